//! Single sign-on brands: their usernames end in `#brandId`, and the part before it need not be
//! an email address (`jdoe@univ.edu#univ`, `qualtricsdemo#qualtrics`, `1352432#wuxyz`).

use serde::Serialize;

/// Why a username does not fit an SSO brand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SsoIssue {
    /// The username does not end in `#brandId`.
    NoSuffix,
    /// It ends in `#brandId`, but the part before it is empty or has a blank.
    BadLocal(String),
}

/// Whether `name` is a username of the SSO brand `brand`: the one rule the validator and the
/// simulator share. It ends in `#brand` (the brand id in any case, as Qualtrics compares
/// usernames case-insensitively: `ann.lee#UNIV` is of brand `univ`), it has exactly one `#`
/// (`eve#univ#univ` is refused: the brand is appended once), and the part before is
/// non-empty and has no blank or invisible character. Forbidden symbols are a separate rule
/// (U03), checked on the whole name.
pub fn sso_username_issue(name: &str, brand: &str) -> Option<SsoIssue> {
    let Some(local) = strip_brand(name, brand) else {
        return Some(SsoIssue::NoSuffix);
    };
    if local.is_empty() {
        return Some(SsoIssue::BadLocal(format!(
            "nothing stands before #{brand}"
        )));
    }
    if local.contains('#') {
        return Some(SsoIssue::BadLocal(format!(
            "it has more than one #: the brand id is appended once, as the last #{brand}"
        )));
    }
    if let Some(c) = super::values::find_invisible(local) {
        return Some(SsoIssue::BadLocal(format!(
            "the part before the brand has the invisible character {}",
            super::values::describe_invisible(c)
        )));
    }
    if let Some(c) = local.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Some(SsoIssue::BadLocal(if c == ' ' {
            "the part before the brand has a space".into()
        } else {
            format!(
                "the part before the brand has the blank character U+{:04X}",
                c as u32
            )
        }));
    }
    None
}

/// The part of `name` before `#brand`, when it ends so (case-insensitively).
pub fn strip_brand<'a>(name: &'a str, brand: &str) -> Option<&'a str> {
    let cut = name.len().checked_sub(brand.len() + 1)?;
    let (local, suffix) = (name.get(..cut)?, name.get(cut..)?);
    (suffix.as_bytes()[0] == b'#' && suffix[1..].eq_ignore_ascii_case(brand)).then_some(local)
}

/// The username with the brand's suffix, when it has none (`None` when it already ends in
/// `#brand`, or ends in another `#…` that a person must look at).
pub fn with_brand(name: &str, brand: &str) -> Option<String> {
    if name.is_empty() || strip_brand(name, brand).is_some() || name.contains('#') {
        return None;
    }
    Some(format!("{name}#{brand}"))
}

/// How the SSO brand of a run was set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SsoBrand {
    pub id: String,
    /// `None`: given with `--sso-brand`; else how many usernames of the instance showed it.
    pub detected: Option<SsoDetection>,
}

/// What the instance's usernames showed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SsoDetection {
    /// Usernames that end in `#id`.
    pub matching: usize,
    /// Usernames looked at.
    pub total: usize,
}

impl SsoBrand {
    /// The brand of a run: the one given, else the one the instance's usernames show.
    pub fn resolve(
        given: Option<&str>,
        instance: Option<&dyn super::InstanceFacts>,
    ) -> Option<Self> {
        match given {
            Some(id) => Some(SsoBrand {
                id: id.to_string(),
                detected: None,
            }),
            None => detect_sso_brand(instance?.usernames()),
        }
    }

    /// One line for a summary.
    pub fn describe(&self) -> String {
        match &self.detected {
            None => format!("SSO brand {}: usernames must end in #{}", self.id, self.id),
            Some(d) => format!(
                "SSO brand {} detected ({} of {} usernames of the instance end in #{}): usernames must end in #{} (pass --sso-brand {} to say so, or another id if this is wrong)",
                self.id, d.matching, d.total, self.id, self.id, self.id
            ),
        }
    }
}

/// The SSO brand of an instance, when most of its usernames (more than half) end in the same
/// `#brandId`. Brand ids are compared case-insensitively and reported in lowercase.
pub fn detect_sso_brand<'a>(usernames: impl IntoIterator<Item = &'a str>) -> Option<SsoBrand> {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut total = 0;
    for name in usernames {
        total += 1;
        if let Some((local, brand)) = name.rsplit_once('#') {
            if !local.is_empty() && is_brand_id(brand) {
                *counts.entry(brand.to_ascii_lowercase()).or_default() += 1;
            }
        }
    }
    let (id, matching) = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
    (matching * 2 > total).then_some(SsoBrand {
        id,
        detected: Some(SsoDetection { matching, total }),
    })
}

/// What a brand id looks like: letters, digits, `_`, `-` and `.` (e.g. `univ`, `wuxyz`).
pub fn is_brand_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sso_usernames() {
        for ok in [
            "jdoe@univ.edu#univ",
            "qualtricsdemo#qualtrics",
            "1352432#wuxyz",
        ] {
            let brand = ok.rsplit_once('#').expect("has #").1;
            assert_eq!(sso_username_issue(ok, brand), None, "{ok}");
        }
        assert_eq!(sso_username_issue("JDoe#UNIV", "univ"), None);
        assert_eq!(
            sso_username_issue("jdoe@univ.edu", "univ"),
            Some(SsoIssue::NoSuffix)
        );
        assert_eq!(
            sso_username_issue("jdoe#other", "univ"),
            Some(SsoIssue::NoSuffix)
        );
        assert!(matches!(
            sso_username_issue("#univ", "univ"),
            Some(SsoIssue::BadLocal(_))
        ));
        assert!(matches!(
            sso_username_issue("j doe#univ", "univ"),
            Some(SsoIssue::BadLocal(_))
        ));
        assert_eq!(sso_username_issue("é#univ", "univ"), None);
        assert_eq!(sso_username_issue("ann.lee#UNIV", "univ"), None);
        assert!(matches!(
            sso_username_issue("eve#univ#univ", "univ"),
            Some(SsoIssue::BadLocal(_))
        ));
        assert_eq!(sso_username_issue("ab", "univ"), Some(SsoIssue::NoSuffix));
    }

    #[test]
    fn suffix_is_appended_once() {
        assert_eq!(
            with_brand("jdoe@univ.edu", "univ").as_deref(),
            Some("jdoe@univ.edu#univ")
        );
        assert_eq!(with_brand("jdoe@univ.edu#univ", "univ"), None);
        assert_eq!(with_brand("jdoe#other", "univ"), None);
        assert_eq!(with_brand("", "univ"), None);
    }

    #[test]
    fn detection_needs_a_majority() {
        let names = ["a#univ", "b@x.org#UNIV", "c@x.org", "d#univ"];
        let b = detect_sso_brand(names).expect("detected");
        assert_eq!(b.id, "univ");
        assert_eq!(
            b.detected,
            Some(SsoDetection {
                matching: 3,
                total: 4
            })
        );
        assert_eq!(detect_sso_brand(["a#univ", "b@x.org"]), None);
        assert_eq!(detect_sso_brand(["a@x.org", "b@x.org"]), None);
        assert_eq!(detect_sso_brand([]), None);
    }
}
