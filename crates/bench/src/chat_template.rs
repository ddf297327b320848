//! The model's chat template (`chat_template` in `tokenizer_config.json`), rendered the way
//! Hugging Face's `apply_chat_template` does: Jinja with `trim_blocks` and `lstrip_blocks`,
//! Python string methods, `raise_exception`, `bos_token` / `eos_token` and
//! `add_generation_prompt`. vLLM's custom dataset wraps every prompt in it.

use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error, ErrorKind, context};

/// A loaded chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

/// A special token in `tokenizer_config.json`: a string or `{"content": …}`.
fn token_text(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or("")
            .to_string(),
        None => String::new(),
    }
}

impl ChatTemplate {
    /// Read the template from the `tokenizer_config.json` beside `tokenizer_json`; `Ok(None)`
    /// when there is no such file or it has no template.
    pub fn beside(tokenizer_json: &Path) -> anyhow::Result<Option<ChatTemplate>> {
        let config_path = tokenizer_json.with_file_name("tokenizer_config.json");
        let Ok(text) = std::fs::read_to_string(&config_path) else {
            return Ok(None);
        };
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: invalid JSON ({e})", config_path.display()))?;
        let source = match config.get("chat_template") {
            Some(serde_json::Value::String(s)) => s.clone(),
            // A list of named templates: the one called "default", else the first.
            Some(serde_json::Value::Array(list)) => {
                let named = |name: &str| {
                    list.iter()
                        .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
                };
                match named("default")
                    .or_else(|| list.first())
                    .and_then(|t| t.get("template"))
                    .and_then(|t| t.as_str())
                {
                    Some(s) => s.to_string(),
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        let template = ChatTemplate::new(
            &source,
            token_text(config.get("bos_token")),
            token_text(config.get("eos_token")),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: the chat template does not parse: {e}",
                config_path.display()
            )
        })?;
        Ok(Some(template))
    }

    /// Compile a template source.
    pub fn new(source: &str, bos_token: String, eos_token: String) -> Result<ChatTemplate, Error> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_function("strftime_now", |format: String| {
            chrono::Local::now().format(&format).to_string()
        });
        env.add_template_owned("chat", source.to_string())?;
        Ok(ChatTemplate {
            env,
            bos_token,
            eos_token,
        })
    }

    /// `apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
    /// tokenize=False)`.
    pub fn render_user_prompt(&self, prompt: &str) -> Result<String, Error> {
        let template = self.env.get_template("chat")?;
        template.render(context! {
            messages => vec![context! { role => "user", content => prompt }],
            add_generation_prompt => true,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_template_renders_like_transformers() {
        let Some(path) = crate::tokenizer::test_support::smollm2_file() else {
            return eprintln!("skipped: smollm2 tokenizer not found");
        };
        let t = ChatTemplate::beside(&path)
            .unwrap()
            .expect("smollm2 has a chat template");
        // transformers 4.x: tok.apply_chat_template([{"role": "user", "content": "Hi there"}],
        // add_generation_prompt=True, tokenize=False)
        assert_eq!(
            t.render_user_prompt("Hi there").unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_methods_special_tokens_and_raise_exception() {
        let src = "{{ bos_token }}{% for m in messages %}{% if m['role'] != 'user' %}{{ raise_exception('only user') }}{% endif %}\
                   [{{ m['content'].strip().upper() }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}";
        let t = ChatTemplate::new(src, "<s>".into(), "</s>".into()).unwrap();
        assert_eq!(t.render_user_prompt("  hello ").unwrap(), "<s>[HELLO]>");
        let bad = ChatTemplate::new(
            "{{ raise_exception('nope') }}",
            String::new(),
            String::new(),
        )
        .unwrap();
        assert!(
            bad.render_user_prompt("x")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }
}
