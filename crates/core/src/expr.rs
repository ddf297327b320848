//! Comparison expressions: `var OP value` for plot filters (`max_concurrency<=64`) and
//! `OP value` for SLA criteria (`"<=500"`), parsed once with clear errors.

use std::fmt;

use serde_json::Value;

use crate::record::as_number;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `>`
    Gt,
}

impl CmpOp {
    /// Every operator, longer spellings first so that `<=` is not read as `<`.
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Le,
        CmpOp::Ge,
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Gt,
    ];
    /// The operators an SLA criterion may use.
    pub const ORDERING: [CmpOp; 4] = [CmpOp::Le, CmpOp::Ge, CmpOp::Lt, CmpOp::Gt];

    /// The operator's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Gt => ">",
        }
    }

    /// Split a leading operator (one of `allowed`, longest match first) off `text`.
    pub fn split_prefix<'a>(text: &'a str, allowed: &[CmpOp]) -> Option<(CmpOp, &'a str)> {
        let mut ops: Vec<CmpOp> = allowed.to_vec();
        ops.sort_by_key(|op| std::cmp::Reverse(op.as_str().len()));
        ops.into_iter()
            .find_map(|op| text.strip_prefix(op.as_str()).map(|rest| (op, rest)))
    }

    /// `lhs OP rhs` on numbers. NaN compares false, except under `!=`.
    pub fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Gt => lhs > rhs,
        }
    }

    /// `lhs OP rhs` on text, for values that are not numbers.
    pub fn holds_str(self, lhs: &str, rhs: &str) -> bool {
        match self {
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Gt => lhs > rhs,
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an expression could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// No operator was found.
    #[error(
        "'{text}' has no comparison operator; expected VAR OP VALUE with OP one of ==, !=, <=, >=, <, >"
    )]
    NoOperator {
        /// The expression.
        text: String,
    },
    /// The variable name is empty.
    #[error("'{text}' names no variable before its operator")]
    NoVariable {
        /// The expression.
        text: String,
    },
    /// The value is empty.
    #[error("'{text}' has no value after its operator")]
    NoValue {
        /// The expression.
        text: String,
    },
    /// The SLA criterion's operator is not allowed.
    #[error(
        "SLA criterion {metric}: \"{text}\" must start with one of <=, >=, <, > followed by a number (e.g. \"<=500\")"
    )]
    BadSlaOperator {
        /// The metric.
        metric: String,
        /// The criterion text.
        text: String,
    },
    /// The SLA criterion's target is not a number.
    #[error(
        "SLA criterion {metric}: \"{text}\" must compare with a finite number; found \"{value}\""
    )]
    BadSlaValue {
        /// The metric.
        metric: String,
        /// The criterion text.
        text: String,
        /// The value text.
        value: String,
    },
}

/// `var OP value`, e.g. a plot filter `max_concurrency<1000`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The variable (a result or parameter key).
    pub var: String,
    /// The operator.
    pub op: CmpOp,
    /// The value as written.
    pub value: String,
}

impl Comparison {
    /// Parse `var OP value`; spaces around the parts are ignored.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let at = text
            .find(['<', '>', '=', '!'])
            .ok_or_else(|| ExprError::NoOperator {
                text: text.to_string(),
            })?;
        let var = text[..at].trim();
        let (op, value) =
            CmpOp::split_prefix(&text[at..], &CmpOp::ALL).ok_or_else(|| ExprError::NoOperator {
                text: text.to_string(),
            })?;
        if var.is_empty() {
            return Err(ExprError::NoVariable {
                text: text.to_string(),
            });
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(ExprError::NoValue {
                text: text.to_string(),
            });
        }
        Ok(Self {
            var: var.to_string(),
            op,
            value: value.to_string(),
        })
    }

    /// Parse a comma-separated list of comparisons (`--filter-by`); empty text gives none.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, ExprError> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Self::parse)
            .collect()
    }

    /// Does `value` (a record's cell) satisfy this comparison? Numbers (and `"inf"`-like
    /// strings) compare as numbers when the written value is a number too; anything else
    /// compares as text (booleans as `True`/`False`, like Python). A missing cell never
    /// matches.
    pub fn matches(&self, value: Option<&Value>) -> bool {
        let Some(value) = value else { return false };
        let target = self
            .value
            .parse::<f64>()
            .ok()
            .or_else(|| as_number(&Value::String(self.value.clone())));
        if let (Some(lhs), Some(rhs)) = (as_number(value), target) {
            return self.op.holds(lhs, rhs);
        }
        let lhs = crate::pyfmt::py_str(value);
        self.op.holds_str(&lhs, &self.value)
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.var, self.op, self.value)
    }
}

/// Parse an SLA criterion's text (`"<=500"`) for `metric`: an ordering operator and a
/// finite number.
pub fn parse_sla_criterion(metric: &str, text: &str) -> Result<(CmpOp, f64), ExprError> {
    let trimmed = text.trim();
    let (op, value) = CmpOp::split_prefix(trimmed, &CmpOp::ORDERING).ok_or_else(|| {
        ExprError::BadSlaOperator {
            metric: metric.to_string(),
            text: text.to_string(),
        }
    })?;
    let value = value.trim();
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((op, v)),
        _ => Err(ExprError::BadSlaValue {
            metric: metric.to_string(),
            text: text.to_string(),
            value: value.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_filters() {
        let c = Comparison::parse("max_concurrency<=64").unwrap();
        assert_eq!(
            (c.var.as_str(), c.op, c.value.as_str()),
            ("max_concurrency", CmpOp::Le, "64")
        );
        assert_eq!(Comparison::parse(" a != b ").unwrap().op, CmpOp::Ne);
        assert_eq!(Comparison::parse("a>1").unwrap().op, CmpOp::Gt);
        assert_eq!(Comparison::parse_list("a<1, b==x,").unwrap().len(), 2);
        assert!(matches!(
            Comparison::parse("abc"),
            Err(ExprError::NoOperator { .. })
        ));
        assert!(matches!(
            Comparison::parse("<=5"),
            Err(ExprError::NoVariable { .. })
        ));
        assert!(matches!(
            Comparison::parse("a<="),
            Err(ExprError::NoValue { .. })
        ));
        assert!(matches!(
            Comparison::parse("a=5"),
            Err(ExprError::NoOperator { .. })
        ));
    }

    #[test]
    fn matches_numbers_and_text() {
        let lt = Comparison::parse("x<10").unwrap();
        assert!(lt.matches(Some(&json!(5))));
        assert!(!lt.matches(Some(&json!(10))));
        assert!(!lt.matches(Some(&json!("inf"))));
        assert!(!lt.matches(None));
        let eq = Comparison::parse("backend==vllm").unwrap();
        assert!(eq.matches(Some(&json!("vllm"))));
        assert!(!eq.matches(Some(&json!("openai"))));
        let b = Comparison::parse("enable_prefix_caching==False").unwrap();
        assert!(b.matches(Some(&json!(false))));
        let inf = Comparison::parse("request_rate==inf").unwrap();
        assert!(inf.matches(Some(&json!("inf"))));
    }

    #[test]
    fn sla_criteria() {
        assert_eq!(
            parse_sla_criterion("p99_e2el_ms", "<=500").unwrap(),
            (CmpOp::Le, 500.0)
        );
        assert_eq!(parse_sla_criterion("m", "> 2.5").unwrap(), (CmpOp::Gt, 2.5));
        let e = parse_sla_criterion("p99_ttft_ms", "==5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p99_ttft_ms") && e.contains("<="), "{e}");
        let e = parse_sla_criterion("p99_ttft_ms", "<=fast")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fast"), "{e}");
        assert!(parse_sla_criterion("m", "<=inf").is_err());
    }
}
