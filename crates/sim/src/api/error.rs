//! Errors shaped like vLLM's: `{"error": {"message", "type", "param", "code"}}`.

use serde_json::json;

/// An HTTP error with vLLM's JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Human-readable message (vLLM's wording where it has one).
    pub message: String,
}

impl ApiError {
    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }

    /// 401 Unauthorized (wrong or missing API key).
    pub fn unauthorized() -> Self {
        Self {
            status: 401,
            message: "Unauthorized".into(),
        }
    }

    /// 404 for a model the server does not serve.
    pub fn unknown_model(model: &str) -> Self {
        Self {
            status: 404,
            message: format!("The model `{model}` does not exist."),
        }
    }

    /// 413 for a body over the limit.
    pub fn body_too_large(limit: usize) -> Self {
        Self {
            status: 413,
            message: format!(
                "Request body is larger than the server's limit of {limit} bytes \
                 (llmsweep sim --max-request-body-bytes)."
            ),
        }
    }

    /// 503 while the server is starting.
    pub fn starting() -> Self {
        Self {
            status: 503,
            message: "The server is starting up; poll /health until it answers 200.".into(),
        }
    }

    /// 500 for a failure inside the server.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            message: message.into(),
        }
    }

    /// vLLM's error `type` for the status.
    pub fn kind(&self) -> &'static str {
        match self.status {
            400 => "BadRequestError",
            401 => "Unauthorized",
            404 => "NotFoundError",
            413 => "RequestEntityTooLarge",
            503 => "ServiceUnavailableError",
            _ => "InternalServerError",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind(),
                "param": null,
                "code": self.status,
            }
        })
        .to_string()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_message_type_and_code() {
        let v: serde_json::Value =
            serde_json::from_str(&ApiError::unknown_model("x").body()).unwrap();
        assert_eq!(v["error"]["message"], "The model `x` does not exist.");
        assert_eq!(v["error"]["type"], "NotFoundError");
        assert_eq!(v["error"]["code"], 404);
    }
}
