//! Phone numbers in free text, told from dates, times, versions, IP
//! addresses and ids by the shape of their digit groups and by what stands
//! around them.

use super::text::{PHONE_MASK, Span, is_word, starts_with_ignore_case};

/// At most this many digit groups are looked at in one number.
const MAX_GROUPS: usize = 8;

/// One run of digits of a candidate number.
#[derive(Debug, Clone, Copy, Default)]
struct Group {
    /// Index of its first digit.
    start: usize,
    /// Index just past the group (past `)` for a parenthesised one).
    end: usize,
    digits: u8,
    /// The separator before it (`0` for none).
    sep: u8,
    paren: bool,
}

/// Phone numbers: E.164 (`+` and 8 to 15 digits, separators allowed), and
/// the common national forms: a trunk `0` (`030 1234567`, `06 12 34 56 78`,
/// `07700 900123`, `0612345678`), an area code in parentheses
/// (`(555) 123-4567`), and North American `555-123-4567` /
/// `1-555-123-4567`. Skips what is already in `spans` (emails).
pub(super) fn phone_spans(bytes: &[u8], spans: &mut Vec<Span>) {
    let taken = spans.len();
    let mut next_taken = 0;
    // Where the last masked span ended: after masking, the byte before `i`
    // is the mask's `]`, so the number is judged as if that stood there
    // (scrubbing twice must find nothing new).
    let mut last_end = usize::MAX;
    let mut i = 0;
    while i < bytes.len() {
        if next_taken < taken && i >= spans[next_taken].start {
            i = i.max(spans[next_taken].end);
            last_end = spans[next_taken].end;
            next_taken += 1;
            continue;
        }
        let limit = if next_taken < taken {
            spans[next_taken].start
        } else {
            bytes.len()
        };
        if !can_start(bytes, i, last_end) {
            i += 1;
            continue;
        }
        match phone_at(&bytes[..limit], i) {
            Some(end) => {
                spans.push(Span {
                    start: i,
                    end,
                    mask: PHONE_MASK,
                });
                i = end;
                last_end = end;
            }
            None => i = first_group_end(bytes, i),
        }
    }
}

/// A number may start here: `+`, `%2B`, `(` or a digit, not glued to a word
/// or to another number (`v1.2`, `10.0.0.1`, `2026-11-26`, `a/0612...`).
fn can_start(bytes: &[u8], i: usize, last_end: usize) -> bool {
    let b = bytes[i];
    let next_digit = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_digit);
    let opens = b.is_ascii_digit()
        || ((b == b'+' || b == b'(') && next_digit(i + 1))
        || (b == b'%' && starts_with_ignore_case(bytes, i, b"%2b") && next_digit(i + 3));
    let glued = i > 0
        && i != last_end
        && (is_word(bytes[i - 1])
            || b".-/+@#$%".contains(&bytes[i - 1])
            // `12:30:0612...` is a time, `tel:0612...` is not.
            || (bytes[i - 1] == b':'
                && i >= 2
                && i - 1 != last_end
                && bytes[i - 2].is_ascii_digit()));
    opens && !glued
}

/// Where to look next after no number started at `i`: past its first run
/// of digits; past only the `+` or `(` when it opened with one, so that the
/// digits after it get their own try.
fn first_group_end(bytes: &[u8], i: usize) -> usize {
    if !bytes[i].is_ascii_digit() {
        return i + 1;
    }
    let mut end = i + 1;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    end
}

/// The end of the phone number starting at `start`, if one does.
fn phone_at(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    let plus = if bytes[i] == b'+' {
        i += 1;
        true
    } else if bytes[i] == b'%' {
        i += 3;
        true
    } else {
        false
    };
    let mut groups = [Group::default(); MAX_GROUPS];
    let mut count = 0;
    let mut sep = 0;
    while count < MAX_GROUPS {
        let paren = bytes.get(i) == Some(&b'(');
        let digits_start = i + usize::from(paren);
        let mut end = digits_start;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let digits = end - digits_start;
        if digits == 0 || digits > 15 {
            break;
        }
        if paren {
            if bytes.get(end) != Some(&b')') {
                break;
            }
            end += 1;
        }
        groups[count] = Group {
            start: digits_start,
            end,
            digits: digits as u8,
            sep,
            paren,
        };
        count += 1;
        i = end;
        // `+44 (0)20`: a digit right after `)` starts the next group.
        if paren && bytes.get(i).is_some_and(u8::is_ascii_digit) {
            sep = 0;
            continue;
        }
        match bytes.get(i) {
            Some(&s @ (b' ' | b'-' | b'.'))
                if bytes
                    .get(i + 1)
                    .is_some_and(|&n| n.is_ascii_digit() || n == b'(') =>
            {
                sep = s;
                i += 1;
            }
            _ => break,
        }
    }
    if count == 0 {
        return None;
    }
    let first_digit = bytes[groups[0].start];
    let second_digit = if groups[0].digits >= 2 {
        bytes[groups[0].start + 1]
    } else if count >= 2 {
        bytes[groups[1].start]
    } else {
        b'0'
    };
    (1..=count).rev().find_map(|k| {
        let end = groups[k - 1].end;
        let next_sep = if k < count { groups[k].sep } else { 0 };
        let shape = Shape {
            groups: &groups[..k],
            plus,
            first_digit,
            second_digit,
        };
        (ends_cleanly(bytes, end, next_sep) && shape.is_phone()).then_some(end)
    })
}

/// What follows the number does not make it part of something longer: a
/// word, a decimal, a time (`12:30`), a date (`06/12`), a dashed id.
fn ends_cleanly(bytes: &[u8], end: usize, next_sep: u8) -> bool {
    if next_sep == b'-' || next_sep == b'.' {
        return false;
    }
    match bytes.get(end) {
        None => true,
        Some(&b) if is_word(b) => false,
        Some(&(b':' | b'/' | b'.' | b'-' | b',')) => {
            !bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
        }
        Some(_) => true,
    }
}

struct Shape<'a> {
    groups: &'a [Group],
    plus: bool,
    first_digit: u8,
    second_digit: u8,
}

impl Shape<'_> {
    fn is_phone(&self) -> bool {
        let groups = self.groups;
        let digits: usize = groups.iter().map(|g| usize::from(g.digits)).sum();
        let seps = || groups.iter().skip(1).map(|g| g.sep).filter(|&s| s != 0);
        // Dots only as the one separator ("555.123.4567", "06.12.34.56.78"):
        // mixed with others they are a date and a time, or a version.
        if seps().any(|s| s == b'.')
            && (seps().any(|s| s != b'.') || groups.iter().any(|g| g.paren))
        {
            return false;
        }
        if self.plus {
            return self.first_digit != b'0' && (8..=15).contains(&digits);
        }
        if groups[0].paren {
            return (2..=5).contains(&groups[0].digits) && (9..=12).contains(&digits);
        }
        if self.first_digit == b'0' {
            if groups.len() == 1 {
                return self.second_digit != b'0' && (10..=11).contains(&digits);
            }
            if self.second_digit == b'0' {
                // International prefix `00 49 30 ...`.
                return (10..=17).contains(&digits);
            }
            return (2..=5).contains(&groups[0].digits)
                && groups.iter().all(|g| g.digits <= 8)
                && (9..=12).contains(&digits);
        }
        let lengths = || groups.iter().map(|g| g.digits);
        let same_sep = {
            let mut s = seps();
            s.next().is_some_and(|first| s.all(|other| other == first))
                && groups.iter().skip(1).all(|g| g.sep != 0)
        };
        let nanp = lengths().eq([3, 3, 4]) && (b'2'..=b'9').contains(&self.first_digit);
        let nanp_with_one = lengths().eq([1, 3, 3, 4]) && self.first_digit == b'1';
        same_sep && (nanp || nanp_with_one)
    }
}

#[cfg(test)]
mod tests {
    use super::super::scrub_text;

    fn masked(text: &str) -> String {
        scrub_text(text).into_owned()
    }

    #[test]
    fn phones() {
        for (input, want) in [
            ("+4930123456", "[phone]"),
            ("call +49 30 1234567 now", "call [phone] now"),
            ("+1 (555) 123-4567", "[phone]"),
            ("+44 (0)20 7946 0958", "[phone]"),
            ("tel:+33-6-12-34-56-78", "tel:[phone]"),
            ("phone=%2B4930123456", "phone=[phone]"),
            ("(555) 123-4567", "[phone]"),
            ("555-123-4567.", "[phone]."),
            ("555.123.4567", "[phone]"),
            ("1-555-123-4567", "[phone]"),
            ("030 1234567", "[phone]"),
            ("06 12 34 56 78", "[phone]"),
            ("06.12.34.56.78", "[phone]"),
            ("07700 900123", "[phone]"),
            ("0612345678", "[phone]"),
            ("0049 30 1234567", "[phone]"),
            ("id 42 0612345678", "id 42 [phone]"),
            ("(0612345678)", "([phone])"),
            ("a@b.cc+444444443", "[email][phone]"),
            ("+4930123456+4930123456", "[phone][phone]"),
            ("Bearer abc1:0612345678", "Bearer [Filtered]:[phone]"),
        ] {
            assert_eq!(masked(input), want, "{input}");
        }
    }

    #[test]
    fn numbers_that_are_not_phones() {
        for keep in [
            "2026-11-26T00:09:38Z",
            "2026-11-26 00:09:38",
            "26.11.2026 12:30",
            "01.02.2026 12",
            "05-11-2026",
            "06/12/2026",
            "1732579778",
            "1732579778123",
            "0000012345",
            "10.0.0.1",
            "192.168.001.100",
            "v1.2.3",
            "1.2.3",
            "0.1234567890",
            "123.456ms",
            "12345678-1234-1234-1234-123456789012",
            "01234567-1234-1234-1234-123456789012",
            "550e8400-e29b-41d4-a716-446655440000",
            "0612345678abc",
            "a0612345678",
            "order #0612345678",
            "1,234,567,890",
            "555-123-4567-8901",
            "12 34 56 78 90",
            "+0 123 456 789",
            "took 3 ms, 200 of 1000",
            "port 5432 pid 4242",
            "0:00:01.234567",
        ] {
            assert_eq!(masked(keep), keep);
        }
    }
}
