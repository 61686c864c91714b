//! Content negotiation between the two exposition formats.
//!
//! Hand-written: the choice is between two media types, and the crates that
//! parse `Accept` in full (with `mime`) cost more than this whole file. What
//! it needs is RFC 9110 §12.5.1: comma-separated media ranges, parameters
//! after `;`, a `q` weight from 0 to 1 with up to three decimals, the most
//! specific range deciding a type's weight.

/// An exposition format.
///
/// # Example
///
/// ```
/// use rampart_metrics::Format;
///
/// // What Prometheus 2.x and 3.x send: OpenMetrics preferred.
/// let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,\
///                   application/openmetrics-text;version=0.0.1;q=0.4,\
///                   text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
/// assert_eq!(Format::from_accept(prometheus.as_bytes()), Format::OpenMetrics);
/// assert_eq!(Format::from_accept(b"text/plain"), Format::Text);
/// // Missing or unusable: the classic text format.
/// assert_eq!(Format::from_accept(b""), Format::Text);
/// assert_eq!(Format::from_accept(b"\xff;;q=banana"), Format::Text);
/// assert_eq!(Format::Text.content_type(), "text/plain; version=0.0.4; charset=utf-8");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// OpenMetrics 1.0.0 text (`application/openmetrics-text`).
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain`), the default.
    Text,
}

impl Format {
    /// The `Content-Type` of a scrape in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format an `Accept` header value asks for: OpenMetrics when it
    /// weighs `application/openmetrics-text` (version 1.0.0 or none) above
    /// every `text/plain` range that fits (version 0.0.4 or none), the text
    /// format otherwise, malformed input included. Never fails: a scrape is
    /// not refused over its `Accept`.
    pub fn from_accept(value: &[u8]) -> Self {
        // (specificity, weight in thousandths) of the best range for each.
        let mut open_metrics: Option<(u8, u16)> = None;
        let mut text: Option<(u8, u16)> = None;
        for range in value.split(|&b| b == b',') {
            let Some(range) = MediaRange::parse(range) else {
                continue;
            };
            let (om, txt) = range.fits();
            for (fits, best) in [(om, &mut open_metrics), (txt, &mut text)] {
                if let Some(specificity) = fits {
                    if best.is_none_or(|(s, _)| specificity > s) {
                        *best = Some((specificity, range.weight));
                    }
                }
            }
        }
        let weight = |best: Option<(u8, u16)>| best.map_or(0, |(_, w)| w);
        if weight(open_metrics) > weight(text) {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }
}

struct MediaRange<'a> {
    kind: &'a [u8],
    subtype: &'a [u8],
    version: Option<&'a [u8]>,
    weight: u16,
}

impl<'a> MediaRange<'a> {
    fn parse(range: &'a [u8]) -> Option<Self> {
        let mut parts = range.split(|&b| b == b';');
        let media = parts.next()?.trim_ascii();
        let slash = media.iter().position(|&b| b == b'/')?;
        let (kind, subtype) = (media[..slash].trim_ascii(), media[slash + 1..].trim_ascii());
        if kind.is_empty() || subtype.is_empty() {
            return None;
        }
        let mut version = None;
        let mut weight = 1000;
        for parameter in parts {
            let Some(eq) = parameter.iter().position(|&b| b == b'=') else {
                continue;
            };
            let name = parameter[..eq].trim_ascii();
            let value = unquote(parameter[eq + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"q") {
                // A range whose weight cannot be read is dropped (RFC 9110
                // gives no meaning to it).
                weight = parse_weight(value)?;
            } else if name.eq_ignore_ascii_case(b"version") {
                version = Some(value);
            }
        }
        Some(Self {
            kind,
            subtype,
            version,
            weight,
        })
    }

    /// How specifically this range names each format: 3 by type and
    /// version, 2 by `text/*`, 1 by `*/*`; `None` where it does not.
    fn fits(&self) -> (Option<u8>, Option<u8>) {
        let eq = |a: &[u8], b: &str| a.eq_ignore_ascii_case(b.as_bytes());
        let version = |wanted: &str| self.version.is_none_or(|v| v == wanted.as_bytes());
        if eq(self.kind, "*") && eq(self.subtype, "*") {
            return (Some(1), Some(1));
        }
        if eq(self.kind, "application") && eq(self.subtype, "openmetrics-text") {
            return (version("1.0.0").then_some(3), None);
        }
        if eq(self.kind, "text") {
            if eq(self.subtype, "*") {
                return (None, Some(2));
            }
            if eq(self.subtype, "plain") {
                return (None, version("0.0.4").then_some(3));
            }
        }
        (None, None)
    }
}

fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_weight(value: &[u8]) -> Option<u16> {
    let (whole, fraction) = match value.iter().position(|&b| b == b'.') {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &[][..]),
    };
    if fraction.len() > 3 || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        let digit = fraction.get(i).map_or(0, |d| u16::from(d - b'0'));
        thousandths = thousandths * 10 + digit;
    }
    match whole {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn weights() {
        for (value, expected) in [
            (&b"0"[..], Some(0)),
            (b"1", Some(1000)),
            (b"1.000", Some(1000)),
            (b"0.5", Some(500)),
            (b"0.25", Some(250)),
            (b"0.125", Some(125)),
            (b"0.", Some(0)),
            (b"1.001", None),
            (b"0.1234", None),
            (b"2", None),
            (b"", None),
            (b"-1", None),
            (b"0.a", None),
            (b".5", None),
        ] {
            assert_eq!(
                parse_weight(value),
                expected,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn negotiation() {
        use Format::{OpenMetrics as Om, Text};
        for (accept, expected) in [
            ("", Text),
            ("*/*", Text),
            ("application/openmetrics-text", Om),
            ("APPLICATION/OpenMetrics-Text; Version=\"1.0.0\"", Om),
            ("application/openmetrics-text; version=0.0.1", Text),
            ("application/openmetrics-text; version=2.0.0", Text),
            ("application/openmetrics-text;q=0", Text),
            ("application/openmetrics-text;q=0.5, text/plain;q=0.6", Text),
            ("application/openmetrics-text;q=0.6, text/plain;q=0.5", Om),
            ("application/openmetrics-text;q=0.5, text/plain;q=0.5", Text),
            (
                "text/plain;version=0.0.4;q=0.3, application/openmetrics-text;q=0.4",
                Om,
            ),
            // The specific range decides, not the wildcard.
            (
                "application/openmetrics-text;q=0.9, text/*;q=1, text/plain;q=0.1",
                Om,
            ),
            // Text refused outright, anything else welcome.
            ("text/plain;q=0, */*", Om),
            ("application/openmetrics-text, text/plain;version=1.0.0", Om),
            ("application/json", Text),
            ("application/openmetrics-text;q=banana", Text),
            (",,;;==//", Text),
            ("/", Text),
            ("application/openmetrics-text;q", Om),
        ] {
            assert_eq!(
                Format::from_accept(accept.as_bytes()),
                expected,
                "{accept:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Format::from_accept(&bytes);
        }

        #[test]
        fn openmetrics_wins_by_weight(om in 0u16..=1000, txt in 0u16..=1000) {
            let accept = format!(
                "text/plain;q={}.{:03}, application/openmetrics-text;version=1.0.0;q={}.{:03}",
                txt / 1000, txt % 1000, om / 1000, om % 1000,
            );
            let expected = if om > txt { Format::OpenMetrics } else { Format::Text };
            prop_assert_eq!(Format::from_accept(accept.as_bytes()), expected);
        }

        #[test]
        fn junk_around_a_range_does_not_change_it(junk in "[ -~]{0,40}") {
            let junk = junk.replace(',', "");
            let accept = format!("{junk},application/openmetrics-text,{junk}");
            // Junk parses as nothing, or as a range that does not name
            // text/plain above weight 1: OpenMetrics still wins or ties.
            let format = Format::from_accept(accept.as_bytes());
            prop_assert!(format == Format::OpenMetrics || junk.to_ascii_lowercase().contains("text/") || junk.contains("*/*"));
        }
    }
}
