//! Errors shaped like vLLM's: `{"error": {"message", "type", "param", "code"}}`.

use serde_json::json;

/// An HTTP error with vLLM's JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Human-readable message (vLLM's wording where it has one).
    pub message: String,
    /// The request field at fault (`param`), where vLLM names one.
    pub param: Option<String>,
    /// vLLM's `type` when it is not the status's usual one (request validation errors
    /// are typed with the HTTP reason phrase, `Bad Request`).
    pub kind_override: Option<&'static str>,
}

impl ApiError {
    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            param: None,
            kind_override: None,
        }
    }

    /// Name the request field at fault (`param`).
    #[must_use]
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// 400 from vLLM's request-validation handler (FastAPI/pydantic rejected the body):
    /// `type` is `Bad Request` and the message lists the errors as vLLM prints them.
    pub fn validation(errors: &[String], param: Option<String>) -> Self {
        let label = if errors.len() == 1 { "error" } else { "errors" };
        let mut message = format!("{} validation {label}:", errors.len());
        for e in errors {
            message.push_str("\n  ");
            message.push_str(e);
        }
        Self {
            param,
            kind_override: Some("Bad Request"),
            ..Self::new(400, message)
        }
    }

    /// A pydantic `value_error` raised by one of vLLM's request validators.
    pub fn value_error(message: &str, param: &str) -> Self {
        Self::validation(
            &[format!(
                "{{'type': 'value_error', 'loc': 'body', 'msg': 'Value error, {message}'}}"
            )],
            Some(param.to_string()),
        )
    }

    /// 404 for a model the server does not serve.
    pub fn unknown_model(model: &str, served: &[String]) -> Self {
        Self::new(
            404,
            format!(
                "The model `{model}` does not exist. Valid aliases: {}.",
                served.join(", ")
            ),
        )
        .with_param("model")
    }

    /// 413 for a body over the limit.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            413,
            format!(
                "Request body is larger than the server's limit of {limit} bytes \
                 (llmsweep sim --max-request-body-bytes)."
            ),
        )
    }

    /// 503 while the server is starting.
    pub fn starting() -> Self {
        Self::new(
            503,
            "The server is starting up; poll /health until it answers 200.",
        )
    }

    /// 500 for a failure inside the server.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// vLLM's error `type` for the status.
    pub fn kind(&self) -> &'static str {
        if let Some(kind) = self.kind_override {
            return kind;
        }
        match self.status {
            400 => "BadRequestError",
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
                "param": self.param,
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
            serde_json::from_str(&ApiError::unknown_model("x", &["a".into(), "b".into()]).body())
                .unwrap();
        assert_eq!(
            v["error"]["message"],
            "The model `x` does not exist. Valid aliases: a, b."
        );
        assert_eq!(v["error"]["type"], "NotFoundError");
        assert_eq!(v["error"]["code"], 404);
        assert_eq!(v["error"]["param"], "model");
        let v: serde_json::Value =
            serde_json::from_str(&ApiError::value_error("No.", "stream_options").body()).unwrap();
        assert_eq!(v["error"]["type"], "Bad Request");
        assert_eq!(v["error"]["param"], "stream_options");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("1 validation error:\n  {'type': 'value_error'"),
            "{v}"
        );
    }
}
