//! Names of headers, tags, extra keys and query parameters whose value is a
//! secret as a whole.

/// Headers removed from every event's request: credentials and sessions.
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
    "x-xsrf-token",
];

/// Whether a key (header, tag, extra field, query parameter, `key=value` in
/// text) names a secret: its value is dropped whole.
///
/// Case, `-` and `_` do not matter: `X-Api-Key`, `api_key` and `APIKEY`
/// are one name.
///
/// # Example
///
/// ```
/// use rampart_sentry::scrub::is_sensitive_key;
///
/// assert!(is_sensitive_key("Authorization"));
/// assert!(is_sensitive_key("X-Api-Key"));
/// assert!(is_sensitive_key("refresh_token"));
/// assert!(is_sensitive_key("db_password"));
/// assert!(!is_sensitive_key("author"));
/// assert!(!is_sensitive_key("tokens_used"));
/// ```
pub fn is_sensitive_key(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "xapikey",
        "apikey",
        "session",
        "sessionid",
        "sid",
        "csrf",
        "xsrf",
        "credentials",
        "privatekey",
        "auth",
        "pwd",
    ];
    const CONTAINS: &[&str] = &["password", "passwd", "secret"];
    if key.len() > 64 {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut len = 0;
    for b in key.bytes() {
        if b != b'-' && b != b'_' {
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
    }
    let Ok(normal) = std::str::from_utf8(&buf[..len]) else {
        return false;
    };
    EXACT.contains(&normal)
        || CONTAINS.iter().any(|part| normal.contains(part))
        || normal.ends_with("token")
}
