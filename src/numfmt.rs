//! Numbers as every summary prints them: counts with thousands separators (`12,345`), rates
//! with one decimal as well (`7,812.4`).

/// A count with a comma every three digits: `12345` → `12,345`.
pub(crate) fn count(n: u64) -> String {
    group(&n.to_string())
}

/// A rate (or any measured quantity) with one decimal and thousands separators:
/// `7812.42` → `7,812.4`. Not-a-number and infinities print as `0.0`: a rate over no time.
pub(crate) fn rate(r: f64) -> String {
    let r = if r.is_finite() { r } else { 0.0 };
    let text = format!("{:.1}", r.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "0"));
    let sign = if r < 0.0 && text != "0.0" { "-" } else { "" };
    format!("{sign}{}.{frac}", group(int))
}

/// `n` with thousands separators and the word for that many: `1 row`, `1,234 rows`.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rates() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(12345), "12,345");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(rate(7812.42), "7,812.4");
        assert_eq!(rate(0.04), "0.0");
        assert_eq!(rate(999.96), "1,000.0");
        assert_eq!(rate(-1234.5), "-1,234.5");
        assert_eq!(rate(f64::NAN), "0.0");
        assert_eq!(rate(2.0), "2.0");
    }
}
