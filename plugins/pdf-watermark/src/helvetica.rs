//! Helvetica (a standard Type 1 font every reader has) in WinAnsiEncoding:
//! encoding text to its bytes and measuring it, to place the stamp.

/// Advance widths (1/1000 em) of codes 32..=126, from Helvetica's AFM.
const ASCII_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0..9
    278, 278, 584, 584, 584, 556, 1015, // : ; < = > ? @
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, // A..M
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N..Z
    278, 278, 278, 469, 556, 333, // [ \ ] ^ _ `
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, // a..m
    556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // n..z
    334, 260, 334, 584, // { | } ~
];

/// Widths of codes 0xA0..=0xFF (Latin-1 in WinAnsiEncoding).
const LATIN1_WIDTHS: [u16; 96] = [
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, // A0..AF
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, // B0..BF
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // C0..CF
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // D0..DF
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, // E0..EF
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500, // F0..FF
];

/// WinAnsiEncoding's codes 0x80..=0x9F: (code, character, width).
const WIN_ANSI_EXTRA: [(u8, char, u16); 27] = [
    (0x80, '€', 556),
    (0x82, '‚', 222),
    (0x83, 'ƒ', 556),
    (0x84, '„', 333),
    (0x85, '…', 1000),
    (0x86, '†', 556),
    (0x87, '‡', 556),
    (0x88, 'ˆ', 333),
    (0x89, '‰', 1000),
    (0x8A, 'Š', 667),
    (0x8B, '‹', 333),
    (0x8C, 'Œ', 1000),
    (0x8E, 'Ž', 611),
    (0x91, '‘', 222),
    (0x92, '’', 222),
    (0x93, '“', 333),
    (0x94, '”', 333),
    (0x95, '•', 350),
    (0x96, '–', 556),
    (0x97, '—', 1000),
    (0x98, '˜', 333),
    (0x99, '™', 1000),
    (0x9A, 'š', 500),
    (0x9B, '›', 333),
    (0x9C, 'œ', 944),
    (0x9E, 'ž', 500),
    (0x9F, 'Ÿ', 667),
];

/// Latin Extended-A (U+0100..=U+017F) folded to the base letter, for
/// names WinAnsiEncoding cannot spell (`Łukasz` → `Lukasz`).
const LATIN_EXTENDED_A_FOLDED: &[u8; 128] =
    b"AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnnNnOoOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";

/// `text` in WinAnsiEncoding: Latin-1 and the usual typographic marks
/// as they are, other Latin letters folded to their base letter, anything
/// else `?`. Control characters become spaces.
pub fn encode(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{FF}' => c as u8,
            c if c.is_control() => b' ',
            c => WIN_ANSI_EXTRA
                .iter()
                .find(|(_, ch, _)| *ch == c)
                .map(|(code, _, _)| *code)
                .or_else(|| {
                    let i = (c as u32).checked_sub(0x100)? as usize;
                    LATIN_EXTENDED_A_FOLDED.get(i).copied()
                })
                .unwrap_or(b'?'),
        })
        .collect()
}

/// The width of WinAnsi-encoded `bytes` in 1/1000 em.
pub fn width(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .map(|&b| {
            u32::from(match b {
                32..=126 => ASCII_WIDTHS[usize::from(b - 32)],
                0xA0..=0xFF => LATIN1_WIDTHS[usize::from(b - 0xA0)],
                _ => WIN_ANSI_EXTRA
                    .iter()
                    .find(|(code, _, _)| *code == b)
                    .map_or(556, |(_, _, w)| *w),
            })
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_encoded_for_winansi() {
        assert_eq!(encode("Zoë <z@x.pl>"), b"Zo\xEB <z@x.pl>");
        assert_eq!(encode("Łukasz Żółć"), b"Lukasz Z\xF3lc");
        assert_eq!(encode("€ “quoted” — ok"), b"\x80 \x93quoted\x94 \x97 ok");
        assert_eq!(encode("日本\tx"), b"?? x");
    }

    #[test]
    fn widths_match_the_afm() {
        assert_eq!(width(b"Hello"), 722 + 556 + 222 + 222 + 556);
        assert_eq!(width(b" "), 278);
        assert_eq!(width(b"@"), 1015);
        assert_eq!(width(b"\xEB"), 556);
        assert_eq!(width(b"\x97"), 1000);
    }
}
