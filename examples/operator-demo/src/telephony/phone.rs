//! Phone numbers in E.164 form, the only form both providers accept.

use std::{fmt, str::FromStr};

/// A phone number in [E.164] form: `+`, a country code not starting with 0,
/// at most 15 digits in all, no spaces or punctuation.
///
/// [E.164]: https://www.itu.int/rec/T-REC-E.164
///
/// # Example
///
/// ```
/// use operator_demo::telephony::PhoneNumber;
///
/// let number: PhoneNumber = "+14155550100".parse().unwrap();
/// assert_eq!(number.as_str(), "+14155550100");
/// for bad in ["14155550100", "+0155550100", "+1 415 555 0100", "+1234567890123456", "+", ""] {
///     assert!(bad.parse::<PhoneNumber>().is_err(), "{bad}");
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

/// Why a text is not an E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an E.164 phone number (+ then 2 to 15 digits, the first not 0)")]
pub struct InvalidPhoneNumber(pub String);

impl PhoneNumber {
    /// The number, `+` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PhoneNumber {
    type Err = InvalidPhoneNumber;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPhoneNumber(text.chars().take(32).collect());
        let digits = text.strip_prefix('+').ok_or_else(invalid)?;
        let valid = (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(invalid())
        }
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_digits_and_long_garbage_are_refused() {
        for bad in ["+١٢٣٤٥", "+12a45", "++12345", "+12345\n", &"+1".repeat(100)] {
            let err = bad.parse::<PhoneNumber>().unwrap_err();
            assert!(err.0.chars().count() <= 32);
        }
        assert!("+44".parse::<PhoneNumber>().is_ok());
        assert!("+123456789012345".parse::<PhoneNumber>().is_ok());
    }
}
