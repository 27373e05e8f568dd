//! `--scope`: which Qualtrics users a roster owns. A user is in scope when any one rule takes
//! it: `username:GLOB` (`*` any run of characters, `?` one; case-insensitive),
//! `division:DV_…`, or `managed` (users this sync created or has seen in its roster). The
//! token's own account and Brand Administrators are never in scope, whatever the rules say.

use crate::import::BRAND_ADMIN_TYPE;
use crate::instance::InstanceUser;

/// One `--scope` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeRule {
    UserName(String),
    Division(String),
    Managed,
}

impl std::str::FromStr for ScopeRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("managed") {
            return Ok(ScopeRule::Managed);
        }
        match s.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("username") && !v.trim().is_empty() => {
                Ok(ScopeRule::UserName(v.trim().to_lowercase()))
            }
            Some((k, v)) if k.eq_ignore_ascii_case("division") => {
                let v = v.trim();
                if crate::rules::is_division_id(v) {
                    Ok(ScopeRule::Division(v.to_string()))
                } else {
                    Err(format!("--scope division:{v}: a division is given by its id, DV_…"))
                }
            }
            _ => Err(format!(
                "--scope {s:?}: give username:GLOB (e.g. username:*@univ.edu), division:DV_…, or managed"
            )),
        }
    }
}

/// The scope of a sync: the rules, and the accounts never touched.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub rules: Vec<ScopeRule>,
    /// The token's own account (`GET /whoami`).
    pub self_id: Option<String>,
}

impl Scope {
    /// Why `user` is never touched, if it is protected.
    pub fn protected(&self, user: &InstanceUser) -> Option<&'static str> {
        if self.self_id.as_deref() == Some(user.id.as_str()) {
            Some("the token's own account is never touched by sync")
        } else if user.account_type == BRAND_ADMIN_TYPE {
            Some("Brand Administrators are never touched by sync")
        } else {
            None
        }
    }

    /// Whether an existing user is the roster's (`managed`: the state says so).
    pub fn takes(&self, user: &InstanceUser, managed: bool) -> bool {
        self.protected(user).is_none() && self.matches(&user.username, &user.division_id, managed)
    }

    /// Whether a user with this username and division, managed or not, is in scope.
    pub fn matches(&self, username: &str, division: &str, managed: bool) -> bool {
        self.rules.iter().any(|r| match r {
            ScopeRule::UserName(g) => glob(g.as_bytes(), username.to_lowercase().as_bytes()),
            ScopeRule::Division(d) => d == division,
            ScopeRule::Managed => managed,
        })
    }

    /// The rules in words, for the summary.
    pub fn describe(&self) -> String {
        self.rules
            .iter()
            .map(|r| match r {
                ScopeRule::UserName(g) => format!("username:{g}"),
                ScopeRule::Division(d) => format!("division:{d}"),
                ScopeRule::Managed => "managed".into(),
            })
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// `*` and `?` glob matching (iterative, with one backtrack point: linear enough for usernames).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_globs_match_without_case() {
        let r: ScopeRule = "username:*@Univ.edu".parse().expect("ok");
        let s = Scope {
            rules: vec![r, "division:DV_bio".parse().expect("ok")],
            self_id: Some("UR_me".into()),
        };
        assert!(s.matches("Ann@UNIV.EDU", "", false));
        assert!(!s.matches("ann@staff.univ.edu.org", "", false));
        assert!(s.matches("x@other.org", "DV_bio", false));
        assert!(!s.matches("x@other.org", "DV_chem", true));
        assert!(glob(b"a?c*", b"abcdef"));
        assert!(!glob(b"a?c", b"ac"));
        let admin = InstanceUser {
            id: "UR_x".into(),
            username: "boss@univ.edu".into(),
            account_type: BRAND_ADMIN_TYPE.into(),
            ..Default::default()
        };
        assert!(!s.takes(&admin, true));
        assert!("division:Biology".parse::<ScopeRule>().is_err());
        assert_eq!("managed".parse::<ScopeRule>(), Ok(ScopeRule::Managed));
    }
}
