//! Finds personal data and secrets in free text: email addresses, phone
//! numbers, bearer tokens, JWTs and `key=value` secrets.
//!
//! Hand-written scanners rather than regular expressions: a phone number is
//! told from a date, a version, an IP address or an id by the shape of its
//! digit groups and by what stands around it, which is a few comparisons
//! here and an unreadable pattern (plus look-arounds the `regex` crate does
//! not have) there. One pass over the bytes, no allocation when nothing is
//! found.

use std::borrow::Cow;

use super::{pair::secret_pair, phone::phone_spans};

/// What an email address is replaced with.
pub const EMAIL_MASK: &str = "[email]";
/// What a phone number is replaced with.
pub const PHONE_MASK: &str = "[phone]";
/// What a token, password or other secret is replaced with.
pub const FILTERED: &str = "[Filtered]";

/// A part of the text to replace.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) mask: &'static str,
}

/// Masks email addresses, phone numbers, bearer/basic credentials, JWTs and
/// the values of `password=`, `"token": "..."` and similar pairs in `text`
/// (quoted or not, JSON, Rust `Debug`).
///
/// Returns the text unchanged, without allocating, when there is nothing to
/// mask.
///
/// # Example
///
/// ```
/// use rampart_sentry::scrub::scrub_text;
///
/// assert_eq!(
///     scrub_text("mail alice@example.com or call +49 30 1234567"),
///     "mail [email] or call [phone]"
/// );
/// // Dates, times, versions, addresses and ids stay.
/// let log = "2026-11-26T00:09:38Z v1.2.3 from 10.0.0.1 order 1732579778123";
/// assert_eq!(scrub_text(log), log);
/// assert_eq!(
///     scrub_text(r#"body {"password":"hunter2"} Login { token: "t1" }"#),
///     r#"body {"password":"[Filtered]"} Login { token: "[Filtered]" }"#
/// );
/// ```
pub fn scrub_text(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    email_spans(bytes, &mut spans);
    credential_spans(bytes, &mut spans);
    if !spans.is_empty() {
        spans.sort_by_key(|span| span.start);
    }
    phone_spans(bytes, &mut spans);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_by_key(|span| span.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        if span.start < at {
            // Overlaps an earlier span: that one already covers the start.
            if span.end > at {
                at = span.end;
            }
            continue;
        }
        out.push_str(&text[at..span.start]);
        out.push_str(span.mask);
        at = span.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// A byte that can be part of a word: ASCII alphanumeric, `_`, or any byte
/// of a non-ASCII character (letters of other scripts).
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Whether `i` is a character boundary of the UTF-8 `bytes` (not a
/// continuation byte).
fn text_boundary(bytes: &[u8], i: usize) -> bool {
    bytes.get(i).is_none_or(|&b| b & 0xC0 != 0x80)
}

/// Whether `bytes[i..]` starts with `needle`, ASCII case-insensitively.
pub(super) fn starts_with_ignore_case(bytes: &[u8], i: usize, needle: &[u8]) -> bool {
    bytes
        .get(i..i + needle.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(needle))
}

// ---------------------------------------------------------------- emails

fn is_local_char(b: u8) -> bool {
    // RFC 5322 also allows `&`, `/`, `=` and `?`, which in practice glue
    // an address to the query or path around it; they are left out.
    b.is_ascii_alphanumeric() || b >= 0x80 || b"!#$%'*+-^_`{|}~.".contains(&b)
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b >= 0x80
}

/// The longest local part of an address (RFC 5321, 4.5.3.1.1).
const MAX_LOCAL: usize = 64;

/// Every `local@domain.tld`, the `@` also written `%40` (a URL-encoded
/// address in a query string or a logged URL).
fn email_spans(bytes: &[u8], spans: &mut Vec<Span>) {
    let mut i = 0;
    let mut covered = 0;
    while i < bytes.len() {
        let at_len = if bytes[i] == b'@' {
            1
        } else if bytes[i] == b'%' && starts_with_ignore_case(bytes, i, b"%40") {
            3
        } else {
            i += 1;
            continue;
        };
        // At most MAX_LOCAL bytes back: `%40%40%40...` (`%`, `4` and `0`
        // are local characters) would otherwise read the text back to its
        // start at every `%40`.
        let mut start = i;
        let stop = covered.max(i.saturating_sub(MAX_LOCAL));
        while start > stop && is_local_char(bytes[start - 1]) {
            start -= 1;
        }
        // Stopped by the bound inside a character of another script: the
        // span starts at the next whole one.
        while start < i && !text_boundary(bytes, start) {
            start += 1;
        }
        // A local part never starts with a dot ("see.alice@x" keeps "see."),
        // and a quote before it is the quote around it (`'alice@x'`): left
        // out, it stays for the key-value scan to see the value as quoted.
        while start < i && matches!(bytes[start], b'.' | b'\'') {
            start += 1;
        }
        let domain_start = i + at_len;
        match (start < i)
            .then(|| domain_end(bytes, domain_start))
            .flatten()
        {
            Some(end) => {
                spans.push(Span {
                    start,
                    end,
                    mask: EMAIL_MASK,
                });
                covered = end;
                i = end;
            }
            None => i += at_len,
        }
    }
}

/// The end of the longest `label(.label)+` at `start` whose last label is a
/// top-level domain (two or more characters, starting with a letter).
fn domain_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut end = start;
    while end < bytes.len() && is_domain_char(bytes[end]) {
        end += 1;
    }
    let mut best = None;
    let mut label_start = start;
    let mut labels = 0;
    for pos in start..=end {
        if pos == end || bytes[pos] == b'.' {
            let label = &bytes[label_start..pos];
            if label.is_empty() {
                break;
            }
            labels += 1;
            // `a@example.com-` ends a sentence with a dash: the dash is not
            // part of the address.
            let mut tld = label;
            while let [rest @ .., b'-'] = tld {
                tld = rest;
            }
            let tld_like = tld.len() >= 2 && (tld[0].is_ascii_alphabetic() || tld[0] >= 0x80);
            if labels >= 2 && tld_like {
                best = Some(label_start + tld.len());
            }
            label_start = pos + 1;
        }
    }
    best
}

// ----------------------------------------------------- tokens and secrets

/// `Bearer <token>`, `Basic <token>`, bare JWTs (`eyJ...`) and the values of
/// `password=...`, `"token": "..."`, `api_key: Some("...")` and the like
/// (see [`secret_pair`]).
fn credential_spans(bytes: &[u8], spans: &mut Vec<Span>) {
    let mut run = TokenRun::default();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !is_word(bytes[i - 1]);
        if boundary {
            let scheme = scheme_len(bytes, i);
            if scheme > 0 {
                let start = i + scheme;
                let end = token_end(bytes, start);
                if end > start {
                    spans.push(Span {
                        start,
                        end,
                        mask: FILTERED,
                    });
                    i = end;
                    continue;
                }
            }
            if bytes[i..].starts_with(b"eyJ") {
                let (first, end, dots) = run.from(bytes, i);
                if dots == 2 && end - i >= 20 {
                    // From the run's first `eyJ`, which had more dots: the
                    // JWT masked, that one would have two and be masked by
                    // a second pass (scrubbing twice would change the text).
                    spans.push(Span {
                        start: first,
                        end,
                        mask: FILTERED,
                    });
                    i = end;
                    continue;
                }
            }
        }
        if bytes[i] == b'=' || bytes[i] == b':' {
            let pair = secret_pair(bytes, i);
            if let Some((start, end)) = pair.mask {
                spans.push(Span {
                    start,
                    end,
                    mask: FILTERED,
                });
            }
            i = pair.resume;
            continue;
        }
        i += 1;
    }
}

/// The token68 run the JWT check read last: a run with many `eyJ` starts
/// after `.` or `-` (`eyJ.eyJ.eyJ...`) is read once, not once per start.
#[derive(Debug, Default)]
struct TokenRun {
    /// Its first `eyJ` start.
    first: usize,
    /// Where the dots were last counted from.
    at: usize,
    end: usize,
    /// Dots in `at..end`.
    dots: usize,
}

impl TokenRun {
    /// The first `eyJ` start of the token run at `i`, its end and the dots
    /// in `i..end`.
    fn from(&mut self, bytes: &[u8], i: usize) -> (usize, usize, usize) {
        let dots = |range: &[u8]| range.iter().filter(|&&b| b == b'.').count();
        if i < self.at || i >= self.end {
            let end = token_end(bytes, i);
            *self = Self {
                first: i,
                at: i,
                end,
                dots: dots(&bytes[i..end]),
            };
        } else {
            // Inside the run read last: it ends where it did.
            self.dots -= dots(&bytes[self.at..i]);
            self.at = i;
        }
        (self.first, self.end, self.dots)
    }
}

/// The length of `Bearer ` or `Basic ` at `i`, else 0.
pub(super) fn scheme_len(bytes: &[u8], i: usize) -> usize {
    if starts_with_ignore_case(bytes, i, b"bearer ") {
        7
    } else if starts_with_ignore_case(bytes, i, b"basic ") {
        6
    } else {
        0
    }
}

/// The end of a token68-like run (RFC 7235) at `start`.
pub(super) fn token_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric() || b"-._~+/=".contains(&bytes[end]))
    {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str) -> String {
        scrub_text(text).into_owned()
    }

    #[test]
    fn emails() {
        for (input, want) in [
            ("alice@example.com", "[email]"),
            ("<Alice.Smith+tag@mail.example.co.uk>", "<[email]>"),
            ("mailto:bob@example.org.", "mailto:[email]."),
            ("to=alice%40example.com&x=1", "to=[email]&x=1"),
            ("jörg@bücher.de", "[email]"),
            ("a@b.cd,c@d.ef", "[email],[email]"),
            ("see.bob@example.io.5", "[email].5"),
            ("'alice@example.com'", "'[email]'"),
            ("o'brien@example.com", "[email]"),
        ] {
            assert_eq!(masked(input), want, "{input}");
        }
        for keep in [
            "@alice",
            "@types/node",
            "user@localhost",
            "a@b",
            "x@1.2",
            "@@",
            "a@.com",
        ] {
            assert_eq!(masked(keep), keep);
        }
    }

    #[test]
    fn credentials() {
        for (input, want) in [
            (
                "Authorization: Bearer abc.def-ghi",
                "Authorization: [Filtered]",
            ),
            ("bearer abc123 then", "bearer [Filtered] then"),
            ("Basic dXNlcjpwYXNz", "Basic [Filtered]"),
            (
                "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl!",
                "token [Filtered]!",
            ),
            ("?password=hunter2&next=/", "?password=[Filtered]&next=/"),
            ("api_key=k1;x", "api_key=[Filtered];x"),
            ("secret: s3cr3t ok", "secret: [Filtered] ok"),
            ("pwd=[email] token=[phone]", "pwd=[email] token=[phone]"),
            ("pwd=J`@x.DB", "pwd=[email]"),
        ] {
            assert_eq!(masked(input), want, "{input}");
        }
        for keep in ["basically fine", "eyJ short", "author=alice", "tokens=3x"] {
            assert_eq!(masked(keep), keep);
        }
    }

    #[test]
    fn quoted_and_spaced_secrets() {
        for (input, want) in [
            (r#"{"password":"hunter2"}"#, r#"{"password":"[Filtered]"}"#),
            (
                r#"{"user":"u1", "token": "abc123", "n": 2}"#,
                r#"{"user":"u1", "token": "[Filtered]", "n": 2}"#,
            ),
            (r#"{"api_key":12345}"#, r#"{"api_key":[Filtered]}"#),
            (r#"{"secret":"hun\"ter2"}"#, r#"{"secret":"[Filtered]"}"#),
            (
                r#"{\"password\":\"hun\\\"ter2\"} tail"#,
                r#"{\"password\":\"[Filtered]\"} tail"#,
            ),
            (
                r#"Login { email: "x", password: "hunter2" }"#,
                r#"Login { email: "x", password: "[Filtered]" }"#,
            ),
            (
                r#"Creds { api_key: Some("k-1 2"), n: 1 }"#,
                r#"Creds { api_key: Some("[Filtered]"), n: 1 }"#,
            ),
            (r#"password="hunter2" ok"#, r#"password="[Filtered]" ok"#),
            ("password = hunter2 ok", "password = [Filtered] ok"),
            ("secret\t:\ts3 ok", "secret\t:\t[Filtered] ok"),
            ("{'password': 'hunter 2'}", "{'password': '[Filtered]'}"),
            (
                r#""authorization": "Bearer abc.def""#,
                r#""authorization": "[Filtered]""#,
            ),
            (
                "password=\"unterminated secret\nnext line",
                "password=\"[Filtered]\nnext line",
            ),
            (
                r#"{"Refresh-Token":"r1","x":"y"}"#,
                r#"{"Refresh-Token":"[Filtered]","x":"y"}"#,
            ),
            // Found by the idempotence proptest: a credential before the
            // wrapper's `(` is part of the secret.
            (
                r#"token=pwd: Bearer pwd: Bearer Some("password"token="#,
                r#"token=[Filtered] Bearer [Filtered]: [Filtered]"password"token="#,
            ),
            (
                r#"pwd: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl("x")"#,
                r#"pwd: [Filtered]"x")"#,
            ),
        ] {
            assert_eq!(masked(input), want, "{input}");
            assert_eq!(masked(want), want, "{want} scrubbed twice");
        }
        for keep in [
            r#"{"author":"alice","tokens":3}"#,
            r#"{"password":""}"#,
            "password = [Filtered]",
            r#"note: "password""#,
        ] {
            assert_eq!(masked(keep), keep);
        }
    }

    #[test]
    fn long_keys_and_separator_runs_stay_linear() {
        // A key longer than any secret's name is not looked up; thousands
        // of separators and quotes cost one pass.
        let long = format!("{}password=\"x\"", "k".repeat(100));
        assert_eq!(masked(&long), long);
        let soup = "password=\"".repeat(20_000);
        assert!(masked(&soup).starts_with("password=\"[Filtered]"));
        let colons = format!("token{}", ":\"".repeat(20_000));
        let _ = masked(&colons);
        // Each of these read the text back to its start, or to its end, at
        // every repeat: 120 KB took over 5 s in a release build.
        for unit in ["%40", "a%40a", "-eyJ.", "eyJ-"] {
            let text = unit.repeat(40_000);
            let _ = masked(&text);
        }
        let local = format!("{}@example.com", "a".repeat(100));
        assert_eq!(masked(&local), format!("{}[email]", "a".repeat(36)));
    }

    #[test]
    fn a_jwt_inside_a_longer_token_run_is_masked_from_the_runs_first_eyj() {
        // Found by scripts/fuzz: the second `eyJ` starts a JWT; masked alone,
        // the first one became a JWT too, so scrubbing twice changed it.
        let text = "note: BNiJ9.eyJzdWIiOiIxIn0.cNi.eyJzdWIiOiIxIn0.cNiJ9.eyh}";
        assert_eq!(masked(text), "note: BNiJ9.[Filtered]}");
        assert_eq!(masked(&masked(text)), masked(text));
    }

    #[test]
    fn an_email_in_a_quoted_secret_keeps_the_quote() {
        // Found by scripts/fuzz: the email's span took the opening quote of
        // an escaped value (`\'`), so a second pass read the value as bare
        // and masked it again.
        let text = "{$pwd\\\":\\'a@b.\u{fffd}hu\u{2}a@{$p\u{fffd}x\0\0;\0w\0**d";
        let once = masked(text);
        assert_eq!(once, "{$pwd\\\":\\'[email]");
        assert_eq!(masked(&once), once);
    }

    #[test]
    fn a_bounded_local_part_starts_at_a_whole_character() {
        // Found by scripts/fuzz: 64 bytes back from the `@` fell inside a
        // three-byte character, and slicing the text there panicked.
        let local = format!("{}@example.com", "€".repeat(30));
        assert_eq!(masked(&local), format!("{}[email]", "€".repeat(9)));
        let crash = [
            &[0xff; 0x31][..],
            b"@b.\xff@\xff\x02a\x02a@J \xff@\xff\x02a\x02a@J B",
        ]
        .concat();
        let text = String::from_utf8_lossy(&crash);
        let once = masked(&text);
        assert_eq!(masked(&once), once);
    }

    #[test]
    fn nothing_found_borrows() {
        assert!(matches!(
            scrub_text("GET /users/{id} answered 500"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(scrub_text(""), Cow::Borrowed(_)));
    }
}
