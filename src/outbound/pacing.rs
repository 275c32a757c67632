//! Pacing: a sender may send so many segments per second. Every replica sharing a database
//! reserves send slots from one shared "next free slot" (see the store's claim), so the rate
//! holds across replicas. Pure arithmetic, in microseconds since the Unix epoch.

/// Slots for a batch of texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// When each text may be handed to the provider, in order.
    pub slots: Vec<i64>,
    /// The sender's next free slot after this batch.
    pub next_free: i64,
}

/// Reserves a slot for each text in `segments` (in order) at `per_second` segments a second,
/// starting at the later of `next_free` and `now`, and taking only the texts whose slot begins
/// before `now + horizon_us` (however long the text). An idle sender
/// does not bank unused time: the rate holds from `now`, never a burst to catch up.
pub fn reserve(
    next_free: i64,
    now: i64,
    per_second: f64,
    horizon_us: i64,
    segments: &[u32],
) -> Reservation {
    let per_segment_us = (1_000_000.0 / per_second.max(0.001)).round() as i64;
    let mut at = next_free.max(now);
    let mut slots = Vec::new();
    for &n in segments {
        if at >= now + horizon_us {
            break;
        }
        slots.push(at);
        at += per_segment_us * i64::from(n.max(1));
    }
    Reservation {
        slots,
        next_free: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_segment_a_second_spaces_texts_a_second_apart() {
        let r = reserve(0, 10_000_000, 1.0, 3_000_000, &[1, 1, 1, 1, 1]);
        assert_eq!(r.slots, [10_000_000, 11_000_000, 12_000_000]);
        assert_eq!(r.next_free, 13_000_000);
    }

    #[test]
    fn a_long_text_takes_a_slot_per_segment() {
        let r = reserve(0, 0, 2.0, 10_000_000, &[3, 1]);
        assert_eq!(r.slots, [0, 1_500_000]);
        assert_eq!(r.next_free, 2_000_000);
    }

    #[test]
    fn slots_continue_where_another_replica_left_off() {
        let r = reserve(5_000_000, 1_000_000, 100.0, 1_000_000, &[1; 500]);
        // Other replicas have reserved the next 4 s: nothing is claimed now.
        assert!(r.slots.is_empty());
        assert_eq!(r.next_free, 5_000_000);
        let r = reserve(5_000_000, 4_500_000, 100.0, 1_000_000, &[1; 500]);
        assert_eq!(r.slots.len(), 50);
        assert_eq!(r.slots[0], 5_000_000);
    }

    #[test]
    fn an_idle_sender_does_not_burst_to_catch_up() {
        let r = reserve(0, 1_000_000_000, 10.0, 1_000_000, &[1; 50]);
        assert_eq!(r.slots.len(), 10);
        assert_eq!(r.slots[0], 1_000_000_000);
        assert_eq!(r.slots[9], 1_000_900_000);
    }
}
