//! A very small blocking HTTP/1.1 client for what the sweep asks of a server: is it ready
//! (`GET /health`), reset your caches (`POST /reset_prefix_cache`). Plain HTTP only;
//! nothing here is on a measured path.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A server's base address, e.g. `http://127.0.0.1:8000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path prefix without a trailing slash ("" for none).
    pub prefix: String,
}

impl BaseUrl {
    /// Parse `http://host[:port][/prefix]`; the port defaults to 80.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("'{url}': only http:// URLs are supported here (e.g. http://127.0.0.1:8000)")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| format!("'{url}': unclosed '[' in the host"))?;
            let port = v6[end + 1..].strip_prefix(':');
            (v6[..end].to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("'{url}' names no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("'{url}': port '{p}' is not a number from 0 to 65535"))?,
            None => 80,
        };
        Ok(Self {
            host,
            port,
            prefix: path.to_string(),
        })
    }

    /// The base URL from a host and port.
    pub fn from_host_port(host: &str, port: u16) -> Self {
        Self {
            host: host.to_string(),
            port,
            prefix: String::new(),
        }
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{self}{path}")
    }

    fn socket_addrs(&self) -> std::io::Result<Vec<SocketAddr>> {
        Ok((self.host.as_str(), self.port).to_socket_addrs()?.collect())
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}{}", self.host, self.port, self.prefix)
        } else {
            write!(f, "http://{}:{}{}", self.host, self.port, self.prefix)
        }
    }
}

/// Send `method path` with an empty body and return the HTTP status code.
pub fn request_status(
    base: &BaseUrl,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<u16> {
    let addrs = base.socket_addrs()?;
    let mut last_err = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{} resolves to no address", base.host),
    );
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return exchange(stream, base, method, path, timeout),
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

fn exchange(
    mut stream: TcpStream,
    base: &BaseUrl,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<u16> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let host = if base.host.contains(':') {
        format!("[{}]", base.host)
    } else {
        base.host.clone()
    };
    let req = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: llmsweep\r\nAccept: */*\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        base.prefix, base.port
    );
    stream.write_all(req.as_bytes())?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 8192 {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not an HTTP response: {:?}",
                    line.lines().next().unwrap_or("")
                ),
            )
        })?;
    Ok(status)
}

/// Is anything accepting TCP connections at `base`?
pub fn port_open(base: &BaseUrl, timeout: Duration) -> bool {
    base.socket_addrs()
        .map(|addrs| {
            addrs
                .iter()
                .any(|a| TcpStream::connect_timeout(a, timeout).is_ok())
        })
        .unwrap_or(false)
}

/// A TCP port on 127.0.0.1 that is free right now.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn parses_urls() {
        assert_eq!(
            BaseUrl::parse("http://localhost:8000").unwrap(),
            BaseUrl::from_host_port("localhost", 8000)
        );
        let u = BaseUrl::parse("http://[::1]:9/v1/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.prefix.as_str()),
            ("::1", 9, "/v1")
        );
        assert_eq!(u.to_string(), "http://[::1]:9/v1");
        assert_eq!(BaseUrl::parse("http://h").unwrap().port, 80);
        assert!(
            BaseUrl::parse("https://h:1")
                .unwrap_err()
                .contains("http://")
        );
        assert!(BaseUrl::parse("http://h:x").unwrap_err().contains("port"));
    }

    #[test]
    fn reads_a_status() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            req
        });
        let base = BaseUrl::from_host_port("127.0.0.1", port);
        assert_eq!(
            request_status(&base, "POST", "/reset_prefix_cache", Duration::from_secs(2)).unwrap(),
            503
        );
        assert!(
            t.join()
                .unwrap()
                .starts_with("POST /reset_prefix_cache HTTP/1.1")
        );
    }

    #[test]
    fn closed_port_is_an_error() {
        let port = free_port().unwrap();
        let base = BaseUrl::from_host_port("127.0.0.1", port);
        assert!(request_status(&base, "GET", "/health", Duration::from_millis(200)).is_err());
        assert!(!port_open(&base, Duration::from_millis(200)));
    }
}
