//! Salesforce record ids: 15-char case-sensitive form, the 18-char checksum form, and generation.

/// Alphabet of the 3-char checksum suffix: one char per 5-char block of the 15-char id.
const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
/// Base-62 digits in ASCII order, so generated ids sort numerically as plain strings.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The checksum suffix of a 15-char id: bit i of block b is set when char 5b+i is upper case.
fn checksum(id15: &[u8]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (block, slot) in out.iter_mut().enumerate() {
        let mut bits = 0usize;
        for i in 0..5 {
            if id15[block * 5 + i].is_ascii_uppercase() {
                bits |= 1 << i;
            }
        }
        *slot = SUFFIX_ALPHABET[bits];
    }
    out
}

/// Extends a 15-char id to its 18-char form.
pub fn to_18(id15: &str) -> String {
    let bytes = id15.as_bytes();
    let suffix = checksum(bytes);
    let mut s = String::with_capacity(18);
    s.push_str(id15);
    s.extend(suffix.iter().map(|&b| b as char));
    s
}

/// Normalises a user-supplied id (15 or 18 chars) to the canonical 18-char form.
///
/// An 18-char id is case-insensitive: the suffix says which letters are upper case, so
/// `003abc...` typed in lower case still resolves to the same record, as in Salesforce.
pub fn normalize(input: &str) -> Option<String> {
    if !input.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match input.len() {
        15 => Some(to_18(input)),
        18 => {
            let bytes = input.as_bytes();
            let mut id15 = [0u8; 15];
            for block in 0..3 {
                let c = bytes[15 + block].to_ascii_uppercase();
                let bits = SUFFIX_ALPHABET.iter().position(|&a| a == c)?;
                for i in 0..5 {
                    let ch = bytes[block * 5 + i];
                    id15[block * 5 + i] = if bits & (1 << i) != 0 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch.to_ascii_lowercase()
                    };
                }
            }
            // Digits have no case, so a suffix claiming an upper-case digit is not a real id.
            let rebuilt = std::str::from_utf8(&id15).ok()?;
            let full = to_18(rebuilt);
            full.eq_ignore_ascii_case(input).then_some(full)
        }
        _ => None,
    }
}

/// The first 15 chars of an 18-char id (list-view describe/results use this form).
pub fn to_15(id18: &str) -> &str {
    id18.get(..15).unwrap_or(id18)
}

/// Builds the `n`th id for a key prefix: prefix(3) + pod(2) + reserved "0" + base-62 counter(9) + checksum.
pub fn generate(prefix: &str, pod: &str, n: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut v = n;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(v % 62) as usize];
        v /= 62;
    }
    let mut id15 = String::with_capacity(15);
    id15.push_str(prefix);
    id15.push_str(pod);
    id15.push('0');
    id15.extend(digits.iter().map(|&b| b as char));
    to_18(&id15)
}

/// Whether a path segment looks like a record id (15/18 alphanumerics) rather than a field name.
pub fn looks_like_id(s: &str) -> bool {
    (s.len() == 15 || s.len() == 18) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_ids_round_trip() {
        // From the REST guide: list returns 00BD0000005WcCNMA0 where describe shows 00BD0000005WcCN.
        assert_eq!(to_18("00BD0000005WcCN"), "00BD0000005WcCNMA0");
        assert_eq!(
            normalize("00bd0000005wccnma0").as_deref(),
            Some("00BD0000005WcCNMA0")
        );
        assert_eq!(
            normalize("00BD0000005WcCN").as_deref(),
            Some("00BD0000005WcCNMA0")
        );
    }

    #[test]
    fn generated_ids_sort_in_creation_order() {
        let a = generate("003", "gK", 61);
        let b = generate("003", "gK", 62);
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), 18);
        assert_eq!(normalize(&a), Some(a.clone()));
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert_eq!(normalize("003-not-an-id!!"), None);
        assert_eq!(normalize("abc"), None);
    }
}
