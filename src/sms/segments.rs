//! GSM-7 / UCS-2 encoding detection and segment counting, as Twilio's message segment
//! calculator (TwilioDevEd/message-segment-calculator) counts them.
//!
//! A message is sent as GSM-7 when every character is in the GSM 03.38 basic set or its
//! extension table, and as UCS-2 (UTF-16 on the wire) otherwise: one curly quote is enough to
//! switch the whole message. A single segment carries 140 octets (1120 bits); a multipart message
//! spends 6 octets of each segment on the user data header, leaving 153 septets or 67 UTF-16
//! units. A character is never split across two segments: a GSM-7 escape pair (`€`, `{`, …)
//! stays together, and in UCS-2 a whole user-perceived character (an emoji with its surrogate
//! pair, a flag, a ZWJ sequence, a letter with its accents) stays together.

use unicode_segmentation::UnicodeSegmentation;

/// How a message is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Encoding {
    /// The GSM 03.38 7-bit default alphabet (plus its extension table).
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2 / UTF-16, two octets per code unit.
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl Encoding {
    /// The name Twilio uses for the encoding: `"GSM-7"` or `"UCS-2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a message costs to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCount {
    /// The encoding the message is sent in.
    pub encoding: Encoding,
    /// How many SMS segments the message is billed as (at least 1, even for an empty body).
    pub segments: u32,
    /// Characters as Twilio's calculator counts them: for GSM-7, septets (an extension-table
    /// character such as `€` counts 2); for UCS-2, user-perceived characters (an emoji, a flag or
    /// a letter with its accents counts 1; CR and LF count 1 each).
    pub characters: usize,
    /// Distinct characters that forced UCS-2, in order of first appearance (empty for GSM-7).
    pub non_gsm: Vec<char>,
}

/// Octets in one SMS, in bits.
const SEGMENT_BITS: u32 = 1120;
/// The user data header of a multipart message: 6 octets.
const HEADER_BITS: u32 = 48;
const GSM7_UNIT_BITS: u32 = 7;
const UCS2_UNIT_BITS: u32 = 16;

/// Counts the encoding, segments and characters of `text` the way Twilio's calculator does.
///
/// Allocates only when the text holds characters outside GSM-7 (to list them).
pub fn count(text: &str) -> SegmentCount {
    let mut non_gsm = Vec::new();
    let mut septets = 0usize;
    for c in text.chars() {
        match gsm7_septets(c) {
            0 => {
                if !non_gsm.contains(&c) {
                    non_gsm.push(c);
                }
            }
            n => septets += n as usize,
        }
    }

    if non_gsm.is_empty() {
        let atoms = text.chars().map(|c| gsm7_septets(c) * GSM7_UNIT_BITS);
        SegmentCount {
            encoding: Encoding::Gsm7,
            segments: pack(atoms),
            characters: septets,
            non_gsm,
        }
    } else {
        let atoms = graphemes(text).map(|units| units * UCS2_UNIT_BITS);
        SegmentCount {
            encoding: Encoding::Ucs2,
            segments: pack(atoms),
            characters: graphemes(text).count(),
            non_gsm,
        }
    }
}

/// Septets `c` takes in GSM-7: 1 in the basic set, 2 in the extension table (escape + code),
/// 0 when it is not GSM-7 at all.
///
/// The table is the calculator's `UnicodeToGsm` map, i.e. GSM 03.38 with 0x09 read as `Ç`
/// (so `ç` is not GSM-7) and form feed as an extension character.
fn gsm7_septets(c: char) -> u32 {
    if c.is_ascii() {
        return ASCII_SEPTETS[c as usize];
    }
    match c {
        '¡' | '£' | '¤' | '¥' | '§' | '¿' | 'Ä' | 'Å' | 'Æ' | 'Ç' | 'É' | 'Ñ' | 'Ö' | 'Ø' | 'Ü'
        | 'ß' | 'à' | 'ä' | 'å' | 'æ' | 'è' | 'é' | 'ì' | 'ñ' | 'ò' | 'ö' | 'ø' | 'ù' | 'ü'
        | 'Γ' | 'Δ' | 'Θ' | 'Λ' | 'Ξ' | 'Π' | 'Σ' | 'Φ' | 'Ψ' | 'Ω' => 1,
        '€' => 2,
        _ => 0,
    }
}

/// Septets per ASCII character: 0 = not GSM-7, 2 = extension table.
const ASCII_SEPTETS: [u32; 128] = {
    let mut table = [0u32; 128];
    let mut b = 0x20;
    while b < 0x7f {
        table[b] = 1;
        b += 1;
    }
    table[b'\n' as usize] = 1;
    table[b'\r' as usize] = 1;
    table[0x0c] = 2; // form feed
    table[b'`' as usize] = 0;
    let mut i = 0;
    let extension = b"[\\]^{|}~";
    while i < extension.len() {
        table[extension[i] as usize] = 2;
        i += 1;
    }
    table
};

/// Counts the segments needed for a message made of indivisible pieces of the given sizes in
/// bits, replaying the calculator's algorithm so that even its corner cases agree.
///
/// Pieces fill a 1120-bit segment. When one does not fit, a new segment (starting with the
/// 48-bit header) is opened; the first time this happens the first segment gets its header too,
/// and whatever no longer fits in it moves to the second. A piece larger than a segment (a
/// grapheme of more than 67 UTF-16 units) is placed anyway and overflows its segment.
fn pack<I>(pieces: I) -> u32
where
    I: Iterator<Item = u32> + Clone,
{
    let capacity = SEGMENT_BITS as i64;
    let header = HEADER_BITS as i64;

    // The first segment, without a header.
    let mut used = 0i64;
    let mut in_first = 0usize;
    let mut rest = pieces.clone();
    let overflowing = loop {
        match rest.next() {
            None => return 1,
            Some(size) if capacity - used < i64::from(size) => break i64::from(size),
            Some(size) => {
                used += i64::from(size);
                in_first += 1;
            }
        }
    };

    // Adding the header to the first segment pushes its tail into the second: keep the longest
    // prefix that still fits beside the header.
    let mut kept = header;
    let mut moved = 0i64;
    for size in pieces.take(in_first) {
        let size = i64::from(size);
        if moved == 0 && kept + size <= capacity {
            kept += size;
        } else {
            moved += size;
        }
    }

    let mut segments = 2u32;
    used = header + moved + overflowing;
    for size in rest {
        let size = i64::from(size);
        if capacity - used < size {
            segments += 1;
            used = header;
        }
        used += size;
    }
    segments
}

/// The user-perceived characters (extended grapheme clusters, UAX #29, from
/// `unicode-segmentation`) of a text, each as its length in UTF-16 code units. Like the
/// calculator, CR LF counts as two characters (UAX #29 makes it one).
fn graphemes(text: &str) -> impl Iterator<Item = u32> + Clone + '_ {
    text.graphemes(true).flat_map(|g| {
        let crlf = g == "\r\n";
        let units = g.encode_utf16().count() as u32;
        [if crlf { 1 } else { units }]
            .into_iter()
            .chain(crlf.then_some(1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(n: usize) -> String {
        "1234567890".chars().cycle().take(n).collect()
    }

    #[test]
    fn a_curly_quote_turns_a_one_segment_gsm_message_into_ucs2_and_is_reported() {
        let plain = "Thanks! We'll text you when it's fixed. Reply STOP to opt out of these \
                     updates from the city of Louisville 311 service request team. \
                     Msg&data rates may apply.";
        let before = count(plain);
        assert_eq!(before.encoding, Encoding::Gsm7);
        assert_eq!(before.segments, 1);
        assert!(before.non_gsm.is_empty());

        let curly = plain.replace('\'', "\u{2019}");
        let after = count(&curly);
        assert_eq!(after.encoding, Encoding::Ucs2);
        assert_eq!(after.segments, 3);
        assert_eq!(after.non_gsm, vec!['\u{2019}']);
    }

    #[test]
    fn non_gsm_lists_each_offending_character_once_in_order_of_appearance() {
        let counted = count("más sí, más “así”");
        assert_eq!(counted.non_gsm, vec!['á', 'í', '“', '”']);
    }

    #[test]
    fn euro_and_braces_cost_two_septets_each() {
        assert_eq!(count("€").characters, 2);
        assert_eq!(count("{x}").characters, 5);
        let euro_and_158 = format!("€{}", digits(158));
        assert_eq!(count(&euro_and_158).segments, 1);
        let euro_and_159 = format!("€{}", digits(159));
        assert_eq!(count(&euro_and_159).segments, 2);
        let brace_and_159 = format!("{{{}", digits(159));
        assert_eq!(count(&brace_and_159).segments, 2);
        assert_eq!(count(&brace_and_159).encoding, Encoding::Gsm7);
    }

    #[test]
    fn one_hundred_sixty_gsm_characters_fit_one_segment_and_one_more_needs_two() {
        let at_limit = count(&digits(160));
        assert_eq!((at_limit.encoding, at_limit.segments), (Encoding::Gsm7, 1));
        assert_eq!(at_limit.characters, 160);
        let over = count(&digits(161));
        assert_eq!((over.encoding, over.segments), (Encoding::Gsm7, 2));
        assert_eq!(count(&digits(306)).segments, 2);
        assert_eq!(count(&digits(307)).segments, 3);
    }

    #[test]
    fn seventy_ucs2_units_fit_one_segment_and_seventy_one_need_two() {
        assert_eq!(count(&"á".repeat(70)).segments, 1);
        assert_eq!(count(&"á".repeat(71)).segments, 2);
        assert_eq!(count(&"á".repeat(134)).segments, 2);
        assert_eq!(count(&"á".repeat(135)).segments, 3);
    }

    #[test]
    fn an_escape_pair_is_never_split_across_segments() {
        // 152 + 2 septets do not fit in 153: the euro moves to the next segment.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        let counted = count(&text);
        assert_eq!(counted.characters, 306);
        assert_eq!(counted.segments, 3);
    }

    #[test]
    fn an_emoji_is_never_split_across_segments() {
        let text = format!("{}😜{}", "a".repeat(66), "a".repeat(66));
        let counted = count(&text);
        assert_eq!(counted.encoding, Encoding::Ucs2);
        assert_eq!(counted.segments, 3);
        assert_eq!(counted.non_gsm, vec!['😜']);
    }

    #[test]
    fn flags_zwj_sequences_and_accents_count_as_one_character() {
        assert_eq!(count("🇮🇹").characters, 1);
        assert_eq!(count("🇮🇹🇫🇷").characters, 2);
        assert_eq!(count("🏳️‍🌈").characters, 1);
        assert_eq!(count("👩‍👩‍👧‍👦").characters, 1);
        assert_eq!(count("👍🏽").characters, 1);
        assert_eq!(count("e\u{301}\u{301}\u{301}").characters, 1);
        assert_eq!(count("한국어").characters, 3);
        assert_eq!(count("\u{1112}\u{1161}\u{11AB}").characters, 1);
    }

    #[test]
    fn spacing_vowels_and_prepended_signs_join_their_letter_as_unicode_defines() {
        // Thai SARA AM and Devanagari's vowel sign I are spacing marks; U+0600 ARABIC NUMBER
        // SIGN is a prepended sign; a keycap is a digit, a variation selector and a mark.
        assert_eq!(count("กำ").characters, 1);
        assert_eq!(count("कि").characters, 1);
        assert_eq!(count("\u{0600}1").characters, 1);
        assert_eq!(count("1\u{FE0F}\u{20E3}").characters, 1);
    }

    #[test]
    fn crlf_counts_as_two_characters() {
        assert_eq!(count("a\r\nb").characters, 4);
        assert_eq!(count("á\r\nb").characters, 4);
    }

    #[test]
    fn an_empty_message_is_one_gsm_segment() {
        let counted = count("");
        assert_eq!(counted.encoding, Encoding::Gsm7);
        assert_eq!(counted.segments, 1);
        assert_eq!(counted.characters, 0);
    }

    #[test]
    fn a_grapheme_too_long_for_a_segment_still_gets_a_segment_of_its_own() {
        let zalgo = format!("a{}", "\u{301}".repeat(99));
        let counted = count(&zalgo);
        assert_eq!(counted.characters, 1);
        assert_eq!(counted.segments, 2);
    }

    /// The calculator's segment builder, transcribed literally: segments as lists of pieces,
    /// the header added to the first segment when a second is opened.
    fn pack_literally(pieces: &[u32]) -> u32 {
        let size = |segment: &Vec<u32>| segment.iter().map(|&p| i64::from(p)).sum::<i64>();
        let capacity = i64::from(SEGMENT_BITS);
        let mut segments: Vec<Vec<u32>> = vec![Vec::new()];
        for &piece in pieces {
            let last = segments.len() - 1;
            if capacity - size(&segments[last]) < i64::from(piece) {
                segments.push(vec![HEADER_BITS]);
                if last == 0 {
                    segments[0].insert(0, HEADER_BITS);
                    let mut moved = Vec::new();
                    while size(&segments[0]) > capacity {
                        if let Some(p) = segments[0].pop() {
                            moved.insert(0, p);
                        }
                    }
                    segments[1].extend(moved);
                }
            }
            let last = segments.len() - 1;
            segments[last].push(piece);
        }
        segments.len() as u32
    }

    proptest::proptest! {
        #[test]
        fn packing_agrees_with_the_calculator_for_gsm_pieces(
            pieces in proptest::collection::vec(proptest::sample::select(vec![7u32, 14]), 0..400)
        ) {
            proptest::prop_assert_eq!(pack(pieces.iter().copied()), pack_literally(&pieces));
        }

        #[test]
        fn packing_agrees_with_the_calculator_for_ucs2_pieces(
            pieces in proptest::collection::vec(
                prop_oneof_units(),
                0..200,
            )
        ) {
            proptest::prop_assert_eq!(pack(pieces.iter().copied()), pack_literally(&pieces));
        }
    }

    /// Mostly one- and two-unit characters, sometimes long clusters, rarely oversized ones.
    fn prop_oneof_units() -> impl proptest::strategy::Strategy<Value = u32> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof![
            8 => (1u32..=2).prop_map(|u| u * UCS2_UNIT_BITS),
            2 => (3u32..=12).prop_map(|u| u * UCS2_UNIT_BITS),
            1 => (60u32..=100).prop_map(|u| u * UCS2_UNIT_BITS),
        ]
    }

    #[test]
    fn encoding_names_match_twilio() {
        assert_eq!(Encoding::Gsm7.as_str(), "GSM-7");
        assert_eq!(Encoding::Ucs2.to_string(), "UCS-2");
        assert_eq!(
            serde_json::to_string(&Encoding::Ucs2).ok().as_deref(),
            Some("\"UCS-2\"")
        );
    }
}
