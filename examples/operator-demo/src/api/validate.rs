//! Field checks shared by the handlers; each failure is a 422 naming the field.

use serde_json::Value;

use super::ApiError;

/// `value` trimmed, `min..=max` characters long, without control characters.
///
/// ```
/// use operator_demo::api::validate::text;
///
/// assert_eq!(text("name", "  Acme ", 1, 100).unwrap(), "Acme");
/// assert!(text("name", "   ", 1, 100).is_err());
/// assert!(text("name", "a\u{0}b", 1, 100).is_err());
/// ```
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    let length = value.chars().count();
    if length < min {
        return Err(ApiError::invalid(
            field,
            if min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if length > max {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// An email address (RFC 5321 syntax, at most 254 characters), lower-cased.
///
/// ```
/// use operator_demo::api::validate::email;
///
/// assert_eq!(email("email", "User1@Example.com").unwrap(), "user1@example.com");
/// assert!(email("email", "not-an-email").is_err());
/// ```
pub fn email(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.len() > 254 || !email_address::EmailAddress::is_valid(value) {
        return Err(ApiError::invalid(field, "is not an email address"));
    }
    Ok(value.to_ascii_lowercase())
}

/// A phone number in E.164 form: `+` then 8 to 15 digits.
///
/// ```
/// use operator_demo::api::validate::phone;
///
/// assert!(phone("to", "+15005550006").is_ok());
/// assert!(phone("to", "5005550006").is_err());
/// ```
pub fn phone(field: &str, value: &str) -> Result<String, ApiError> {
    let digits = value.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
    {
        Ok(value.to_owned())
    } else {
        Err(ApiError::invalid(
            field,
            "expected an E.164 phone number such as +15005550006",
        ))
    }
}

/// A language tag such as `en`, `es`, `pt-BR`: 2 or 3 letters, optionally
/// `-` and 2 to 8 letters or digits.
///
/// ```
/// use operator_demo::api::validate::language;
///
/// assert_eq!(language("language", "pt-BR").unwrap(), "pt-BR");
/// assert!(language("language", "english!").is_err());
/// ```
pub fn language(field: &str, value: &str) -> Result<String, ApiError> {
    let (primary, region) = match value.split_once('-') {
        Some((primary, region)) => (primary, Some(region)),
        None => (value, None),
    };
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    let region_ok = region
        .is_none_or(|r| (2..=8).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    if primary_ok && region_ok {
        Ok(value.to_owned())
    } else {
        Err(ApiError::invalid(
            field,
            "expected a language tag such as en or pt-BR",
        ))
    }
}

/// The most members a custom-fields object may have.
pub const MAX_CUSTOM_FIELDS: usize = 50;
/// The most bytes custom fields take as JSON.
pub const MAX_CUSTOM_FIELDS_BYTES: usize = 8 * 1024;

/// A JSON object of at most 50 members and 8 KiB, keys 1 to 64 characters;
/// returned as its JSON text.
///
/// ```
/// use operator_demo::api::validate::custom_fields;
///
/// assert!(custom_fields("custom_fields", &serde_json::json!({"score": 3})).is_ok());
/// assert!(custom_fields("custom_fields", &serde_json::json!([1, 2])).is_err());
/// ```
pub fn custom_fields(field: &str, value: &Value) -> Result<String, ApiError> {
    let Some(object) = value.as_object() else {
        return Err(ApiError::invalid(field, "expected a JSON object"));
    };
    if object.len() > MAX_CUSTOM_FIELDS {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_CUSTOM_FIELDS} members"),
        ));
    }
    if let Some(key) = object
        .keys()
        .find(|key| key.is_empty() || key.chars().count() > 64)
    {
        return Err(ApiError::invalid(
            format!("{field}.{}", key.chars().take(64).collect::<String>()),
            "member names must be 1 to 64 characters",
        ));
    }
    let text = value.to_string();
    if text.len() > MAX_CUSTOM_FIELDS_BYTES {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_CUSTOM_FIELDS_BYTES} bytes of JSON"),
        ));
    }
    Ok(text)
}

/// `value` if it is one of `allowed`, else 422 listing them.
///
/// ```
/// use operator_demo::api::validate::one_of;
///
/// assert!(one_of("status", "running", &["draft", "running"]).is_ok());
/// assert!(one_of("status", "gone", &["draft", "running"]).is_err());
/// ```
pub fn one_of<'a>(field: &str, value: &str, allowed: &[&'a str]) -> Result<&'a str, ApiError> {
    allowed
        .iter()
        .find(|candidate| **candidate == value)
        .copied()
        .ok_or_else(|| ApiError::invalid(field, format!("expected one of {}", allowed.join(", "))))
}
