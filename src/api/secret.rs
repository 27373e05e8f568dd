//! Secrets: the API token, the OAuth client secret and a new user's password, in one newtype
//! whose text never shows. `Debug` and `Display` print a placeholder, it has no `Serialize`,
//! and the only way to the text is [`Secret::expose`], called where a request header or body
//! is built and where the integration token file is written.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context};

/// A secret's text, never shown.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret as it is (a generated password).
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// A secret as pasted: trimmed, neither empty nor holding spaces or control characters
    /// (`what` names it in the error, `hint` says where to copy it from again).
    pub(crate) fn pasted(secret: String, what: &str, hint: &str) -> anyhow::Result<Secret> {
        let s = secret.trim().to_string();
        if s.is_empty() {
            bail!("the {what} is empty");
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            bail!("the {what} has spaces or control characters; {hint}");
        }
        Ok(Secret(s))
    }

    /// The text, for the request header or body (and the token file) only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Serialises the text: for the one request body that carries a secret (a new user's
    /// password), named at its field so that nothing else serialises a secret by accident.
    pub(crate) fn serialize_exposed<S: serde::Serializer>(
        secret: &Option<Secret>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => s.serialize_some(secret.expose()),
            None => s.serialize_none(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An API token: a [`Secret`] that was checked as pasted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token(Secret);

impl Token {
    pub fn new(secret: impl Into<String>) -> anyhow::Result<Token> {
        Secret::pasted(
            secret.into(),
            "API token",
            "copy it again from Account Settings › Qualtrics IDs",
        )
        .map(Token)
    }

    /// Reads a token file; warns (through `warn`) when others may read it.
    pub fn from_file(path: &Path, warn: &mut dyn FnMut(String)) -> anyhow::Result<Token> {
        Token::new(read_secret_file(path, "token", warn)?)
            .with_context(|| format!("in the token file {}", path.display()))
    }
}

/// The secret of an OAuth client: a [`Secret`] that was checked as pasted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSecret(Secret);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> anyhow::Result<ClientSecret> {
        Secret::pasted(
            secret.into(),
            "OAuth client secret",
            "copy it again from Account Settings › Qualtrics IDs › OAuth Client Manager",
        )
        .map(ClientSecret)
    }

    /// Reads a secret file; warns (through `warn`) when others may read it.
    pub fn from_file(path: &Path, warn: &mut dyn FnMut(String)) -> anyhow::Result<ClientSecret> {
        ClientSecret::new(read_secret_file(path, "client secret", warn)?)
            .with_context(|| format!("in the secret file {}", path.display()))
    }
}

impl std::ops::Deref for Token {
    type Target = Secret;
    fn deref(&self) -> &Secret {
        &self.0
    }
}

impl std::ops::Deref for ClientSecret {
    type Target = Secret;
    fn deref(&self) -> &Secret {
        &self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The text of a secret file; warns (through `warn`) when others may read it.
fn read_secret_file(
    path: &Path,
    what: &str,
    warn: &mut dyn FnMut(String),
) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                warn(format!(
                    "warning: {} can be read by other users; run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = warn;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_show() {
        let t = Token::new("s3cretTOKEN").expect("ok");
        assert!(!format!("{t:?} {t}").contains("s3cret"));
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        assert_eq!(t.expose(), "s3cretTOKEN");
        assert!(Token::new("  ").is_err());
        let e = Token::new("a b").expect_err("a space");
        assert!(e.to_string().contains("spaces"), "{e}");
    }

    #[test]
    fn a_password_is_serialised_only_where_its_field_says_so() {
        #[derive(serde::Serialize)]
        struct Body {
            #[serde(serialize_with = "Secret::serialize_exposed")]
            password: Option<Secret>,
        }
        let body = Body {
            password: Some(Secret::new("hunter2-Pw")),
        };
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"password":"hunter2-Pw"}"#
        );
        assert_eq!(format!("{:?}", body.password), "Some(<redacted>)");
    }
}
