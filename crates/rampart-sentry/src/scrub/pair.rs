//! `key = value` pairs in free text whose key names a secret, in the shapes
//! logs and error messages write them: `password=hunter2` (query, form),
//! `password = hunter2` and `secret: s3` (log lines), `"password":"hunter2"`
//! (JSON, also escaped inside a JSON string: `{\"password\":\"x\"}`),
//! `password: "hunter2"` and `api_key: Some("k")` (Rust `Debug`),
//! `{'password': 'x'}` (Python).
//!
//! Linear in the text: the key is read backwards at most [`MAX_KEY`] bytes
//! from its separator, and the scan of a value resumes the caller's scan
//! where the value ended, so no byte is read as a value twice.

use super::{
    keys::is_sensitive_key,
    text::{EMAIL_MASK, FILTERED, PHONE_MASK},
};

/// Longer keys are not secrets' names ([`is_sensitive_key`] says no).
const MAX_KEY: usize = 64;
/// Blanks between a key, its closing quote and the separator.
const MAX_GAP: usize = 8;

/// Bytes that end an unquoted value.
const VALUE_END: &[u8] = b"&;, \t\r\n\"'<>)]}";

/// What the separator at `sep` (`=` or `:`) stands for: `mask` is the part
/// of the value to replace, if its key names a secret; `resume` is where
/// the caller's scan goes on (past the value when one was read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pair {
    pub(super) mask: Option<(usize, usize)>,
    pub(super) resume: usize,
}

/// The secret value after the separator at `bytes[sep]`, if the key before
/// it names a secret.
pub(super) fn secret_pair(bytes: &[u8], sep: usize) -> Pair {
    let skip = Pair {
        mask: None,
        resume: sep + 1,
    };
    let key = key_before(bytes, sep);
    if key.is_empty() || !std::str::from_utf8(key).is_ok_and(is_sensitive_key) {
        return skip;
    }
    let mut start = sep + 1;
    while start < bytes.len() && matches!(bytes[start], b' ' | b'\t') {
        start += 1;
    }
    // Where the value's content starts, and how it ends.
    let (content, quote, escaped) = match bytes.get(start) {
        Some(&q @ (b'"' | b'\'')) => (start + 1, q, false),
        Some(b'\\') if matches!(bytes.get(start + 1), Some(b'"' | b'\'')) => {
            (start + 2, bytes[start + 1], true)
        }
        _ => match unquoted_end(bytes, start) {
            // `Some("x")`, `Secret("x")`: the quoted part is the value.
            end if is_wrapper(&bytes[start..end])
                && matches!(bytes.get(end), Some(b'"' | b'\'')) =>
            {
                (end + 1, bytes[end], false)
            }
            end => {
                return Pair {
                    mask: (end > start && !is_masked(bytes, start)).then_some((start, end)),
                    resume: end.max(sep + 1),
                };
            }
        },
    };
    // Already masked (text scrubbed twice): leave it, and go on after the
    // mask without reading the value (reading it and then the rest again
    // would make the scan quadratic).
    if let Some(len) = masked_len(bytes, content) {
        return Pair {
            mask: None,
            resume: content + len,
        };
    }
    let end = quoted_end(bytes, content, quote, escaped);
    Pair {
        mask: (end > content).then_some((content, end)),
        resume: end.max(sep + 1),
    }
}

/// Whether `run` is the opening of a wrapper around a quoted value:
/// `Some(`, `Secret(`. Only a name: anything else before the `(` (a JWT, a
/// `Bearer` credential) is part of the secret and masked with it.
fn is_wrapper(run: &[u8]) -> bool {
    match run {
        [first, name @ .., b'('] => {
            run.len() <= 32
                && first.is_ascii_alphabetic()
                && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        _ => false,
    }
}

/// The length of the mask `bytes[at..]` starts with, if any.
fn masked_len(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = &bytes[at.min(bytes.len())..];
    [FILTERED, EMAIL_MASK, PHONE_MASK]
        .iter()
        .find(|mask| rest.starts_with(mask.as_bytes()))
        .map(|mask| mask.len())
}

fn is_masked(bytes: &[u8], at: usize) -> bool {
    masked_len(bytes, at).is_some()
}

/// The key that ends before the separator at `sep`: blanks, a closing
/// quote (escaped or not) and blanks again skipped; empty when there is
/// none or it is longer than [`MAX_KEY`].
fn key_before(bytes: &[u8], sep: usize) -> &[u8] {
    let mut end = sep;
    let skip_blanks = |end: &mut usize| {
        let stop = end.saturating_sub(MAX_GAP);
        while *end > stop && matches!(bytes[*end - 1], b' ' | b'\t') {
            *end -= 1;
        }
    };
    skip_blanks(&mut end);
    if end > 0 && matches!(bytes[end - 1], b'"' | b'\'') {
        end -= 1;
        if end > 0 && bytes[end - 1] == b'\\' {
            end -= 1;
        }
    }
    let mut start = end;
    while start > 0
        && end - start <= MAX_KEY
        && (bytes[start - 1].is_ascii_alphanumeric() || matches!(bytes[start - 1], b'_' | b'-'))
    {
        start -= 1;
    }
    if end - start > MAX_KEY {
        return &[];
    }
    &bytes[start..end]
}

/// The end of an unquoted value at `start`: `Bearer <token>` whole, else up
/// to the first of [`VALUE_END`].
fn unquoted_end(bytes: &[u8], start: usize) -> usize {
    let scheme = super::text::scheme_len(bytes, start);
    let mut end = start;
    if scheme > 0 {
        end = super::text::token_end(bytes, start + scheme);
    }
    while end < bytes.len() && !VALUE_END.contains(&bytes[end]) {
        end += 1;
    }
    end
}

/// The end of a string quoted by `quote` whose content starts at `start`:
/// the closing quote's index, or the end of the line when it is never
/// closed (the rest of the line is masked rather than let through).
///
/// `escaped`: the string is inside another one, its quotes written `\"`;
/// then `\\\"` is a quote in the content, `\"` closes it.
fn quoted_end(bytes: &[u8], start: usize, quote: u8, escaped: bool) -> usize {
    let mut at = start;
    // In an escaped string, whether the previous character of the inner
    // string was a backslash (which escapes the next one).
    let mut inner_escape = false;
    while at < bytes.len() {
        let b = bytes[at];
        if b == b'\n' || b == b'\r' {
            return at;
        }
        if !escaped {
            match b {
                b'\\' => at += 2,
                _ if b == quote => return at,
                _ => at += 1,
            }
            continue;
        }
        if b == quote {
            // An unescaped quote ends the outer string, and this one too.
            return at;
        }
        if b == b'\\' {
            let c = bytes.get(at + 1).copied().unwrap_or(b'\\');
            if inner_escape {
                inner_escape = false;
            } else if c == quote {
                return at;
            } else if c == b'\\' {
                inner_escape = true;
            }
            at += 2;
        } else {
            inner_escape = false;
            at += 1;
        }
    }
    bytes.len()
}
