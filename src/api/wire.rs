//! The API's wire formats in one place: how dates are read and written, how `language` is sent,
//! what a record id looks like.
//!
//! Dates come back as UTC timestamps to the second (`2027-12-31T00:00:00Z`), though a server may
//! send fractions, an offset, or a bare date; all of them are read. A date qusers sends is
//! written the way the API returns it: midnight UTC of the day (`YYYY-MM-DDT00:00:00Z`). An
//! expiration date read back is the UTC day of its instant, so what is written reads back as
//! the same day.

use jiff::civil::Date;

/// The time of day an expiration date given as a day (MM/DD/YYYY in a file) is sent with:
/// midnight UTC, as the API returns dates set in the admin UI.
pub const DATE_TIME_OF_DAY: &str = "T00:00:00Z";

/// The day a date field of the API names: a timestamp (whole or fractional seconds, `Z` or an
/// offset such as `+02:00`) is taken as an instant and its UTC day returned; a bare
/// `YYYY-MM-DD` is that day. `None` when it is neither.
pub fn read_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() == 10 {
        return s.parse::<Date>().ok();
    }
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.to_zoned(jiff::tz::TimeZone::UTC).date());
    }
    // A timestamp without any offset: the server's clock is UTC.
    s.parse::<jiff::civil::DateTime>().ok().map(|dt| dt.date())
}

/// A day as the API writes dates: `2027-12-31T00:00:00Z`.
pub fn write_date(d: Date) -> String {
    format!("{d}{DATE_TIME_OF_DAY}")
}

/// `language` as every client sends it and the API returns it: lower-case (`en`, `pt-br`);
/// empty becomes `en`.
pub fn wire_language(language: &str) -> String {
    let l = language.trim();
    if l.is_empty() {
        "en".to_string()
    } else {
        l.to_ascii_lowercase()
    }
}

/// Whether `id` is a record id of the shape `prefix` + letters/digits (the server's ids go into
/// request URLs and undo files only once they pass this): 1 to 64 ASCII letters or digits.
pub fn is_record_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Whether `id` is a user id as the server may send it: `UR_` and letters/digits.
pub fn is_server_user_id(id: &str) -> bool {
    is_record_id(id, "UR_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timestamp_form_reads_as_its_utc_day() {
        let d = |s: &str| read_date(s).map(|d| d.to_string());
        assert_eq!(d("2027-12-31").as_deref(), Some("2027-12-31"));
        assert_eq!(d("2027-12-31T00:00:00Z").as_deref(), Some("2027-12-31"));
        assert_eq!(d("2027-12-31T00:00:00.123Z").as_deref(), Some("2027-12-31"));
        assert_eq!(
            d("2027-12-31T00:00:00.5+00:00").as_deref(),
            Some("2027-12-31")
        );
        // 23:30 in New York is 04:30 the next day in UTC.
        assert_eq!(
            d("2027-12-31T23:30:00-05:00").as_deref(),
            Some("2028-01-01")
        );
        assert_eq!(
            d("2028-01-01T01:00:00+02:00").as_deref(),
            Some("2027-12-31")
        );
        assert_eq!(d("2027-12-31T08:00:00").as_deref(), Some("2027-12-31"));
        assert_eq!(d(" 2027-12-31T00:00:00Z ").as_deref(), Some("2027-12-31"));
        for bad in ["", "12/31/2027", "2027-02-30", "2027-12-31X", "soon"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_written_date_reads_back_as_the_same_day() {
        let day: Date = "2027-12-31".parse().expect("date");
        let w = write_date(day);
        assert_eq!(w, "2027-12-31T00:00:00Z");
        assert_eq!(read_date(&w), Some(day));
    }

    #[test]
    fn language_is_lower_case() {
        assert_eq!(wire_language("EN"), "en");
        assert_eq!(wire_language(" pt-BR "), "pt-br");
        assert_eq!(wire_language(""), "en");
    }

    #[test]
    fn record_ids() {
        assert!(is_server_user_id("UR_0Ab3cD4eF5g"));
        assert!(is_server_user_id("UR_1"));
        for bad in [
            "",
            "UR_",
            "ur_abc",
            "UR_../../x",
            "UR_abc?x=1",
            "UR_abc/def",
            "UR_ab c",
            "UR_é",
        ] {
            assert!(!is_server_user_id(bad), "{bad}");
        }
        assert!(!is_server_user_id(&format!("UR_{}", "a".repeat(65))));
    }
}
