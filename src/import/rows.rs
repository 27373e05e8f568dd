//! The nine template fields of a row as the importer holds them: one allocation per row (the
//! fields side by side in one `Box<str>`, with where each ends), not one `String` per field.
//! An import holds every row of its file until the report is written, so this is most of what
//! a large import costs in memory (README, "Memory").

use std::fmt;

use crate::file::Col;

/// A row's nine template fields (trimmed), in [`Col`] order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// Every field, one after the other.
    text: Box<str>,
    /// Where fields 0–7 end in `text` (field 8 ends at its end). A record is at most
    /// [`crate::file::MAX_RECORD_BYTES`], so `u32` holds any offset.
    ends: [u32; 8],
}

impl Fields {
    /// The fields given in [`Col`] order.
    pub fn new<S: AsRef<str>>(fields: &[S; 9]) -> Fields {
        let len: usize = fields.iter().map(|f| f.as_ref().len()).sum();
        let mut text = String::with_capacity(len);
        let mut ends = [0u32; 8];
        for (i, f) in fields.iter().enumerate() {
            text.push_str(f.as_ref());
            if let Some(end) = ends.get_mut(i) {
                // Past 4 GiB (no record is) the offsets would wrap: saturate instead, so a
                // field reads short rather than out of bounds.
                *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
            }
        }
        Fields {
            text: text.into_boxed_str(),
            ends,
        }
    }

    /// One field.
    pub fn get(&self, col: Col) -> &str {
        let i = col as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = self.ends.get(i).map_or(self.text.len(), |&e| e as usize);
        // The offsets were taken at field boundaries of this very text.
        self.text.get(start..end).unwrap_or_default()
    }

    /// Every field, in [`Col`] order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        Col::ALL.iter().map(|&c| self.get(c))
    }

    /// The fields as owned strings (a row of a template file).
    pub fn to_strings(&self) -> [String; 9] {
        Col::ALL.map(|c| self.get(c).to_string())
    }
}

impl<S: AsRef<str>> From<[S; 9]> for Fields {
    fn from(fields: [S; 9]) -> Fields {
        Fields::new(&fields)
    }
}

impl<S: AsRef<str>> From<&[S; 9]> for Fields {
    fn from(fields: &[S; 9]) -> Fields {
        Fields::new(fields)
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_reads_back_as_given_empty_ones_included() {
        let given = [
            "UR_1",
            "ann@x.org",
            "",
            "Müller",
            "ann@x.org",
            "",
            "UT_1",
            "active",
            "",
        ];
        let f = Fields::from(given);
        for (i, col) in Col::ALL.iter().enumerate() {
            assert_eq!(f.get(*col), given[i], "{col:?}");
        }
        assert_eq!(f.to_strings(), given.map(String::from));
        assert_eq!(f.iter().collect::<Vec<_>>(), given.to_vec());
        let empty = Fields::default();
        assert!(Col::ALL.iter().all(|c| empty.get(*c).is_empty()));
        assert_eq!(Fields::from([""; 9]), empty);
    }

    #[test]
    fn the_last_field_alone_and_the_first_alone() {
        let mut given = [""; 9];
        given[8] = "12/31/2030";
        assert_eq!(Fields::from(given).get(Col::ExpirationDate), "12/31/2030");
        let mut given = [""; 9];
        given[0] = "UR_x";
        let f = Fields::from(given);
        assert_eq!(f.get(Col::UserId), "UR_x");
        assert_eq!(f.get(Col::UserName), "");
    }
}
