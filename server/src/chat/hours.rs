//! Business hours: a weekly schedule in a time zone, with holidays, set by an admin.
//!
//! Times are wall-clock times of the schedule's zone (IANA, via `chrono-tz`: no hand-written offsets), so
//! "07:00" stays 07:00 across daylight-saving changes. A span is `[open, close)` within one day (`close` may be
//! `24:00`); a desk that works through midnight gives two spans on two days. On the day a clock springs forward,
//! an opening time that does not exist opens at the first minute that does; on the day it falls back, an
//! opening time that happens twice opens at the first.
//!
//! The default is the government's hours: Sunday to Thursday 07:00–14:00 Asia/Bahrain, no holidays.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeDelta, TimeZone, Timelike, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Most opening spans in one day.
pub const MAX_SPANS_PER_DAY: usize = 4;
/// Most holiday dates in a schedule (a bit more than a year's worth).
pub const MAX_HOLIDAYS: usize = 400;
/// How far `next_open` looks ahead: past every holiday, plus a week.
const LOOKAHEAD_DAYS: usize = MAX_HOLIDAYS + 8;
/// The longest run of wall-clock minutes a time zone ever skipped (Samoa skipped a whole day in 2011).
const MAX_GAP_MINUTES: u32 = 25 * 60;
const MINUTES_PER_DAY: u16 = 24 * 60;

/// A wall-clock time as minutes since midnight, `"HH:MM"` on the wire; `"24:00"` is the end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Clock(u16);

impl Clock {
    pub fn hm(hour: u16, minute: u16) -> Self {
        Clock(hour * 60 + minute)
    }

    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl std::str::FromStr for Clock {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::bad_request(format!("\"{s}\" is not a time of day (HH:MM, 00:00 to 24:00)."));
        let (h, m) = s.split_once(':').filter(|(h, m)| h.len() == 2 && m.len() == 2).ok_or_else(bad)?;
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(Clock::hm(h, m))
    }
}

impl Serialize for Clock {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Clock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        text.parse().map_err(|e: Error| serde::de::Error::custom(e.message))
    }
}

/// Open from `open` until just before `close`, in the schedule's wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub open: Clock,
    pub close: Clock,
}

impl Span {
    fn contains(&self, minute: u16) -> bool {
        self.open.0 <= minute && minute < self.close.0
    }
}

/// The opening spans of each weekday.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Week {
    #[serde(default)]
    pub sun: Vec<Span>,
    #[serde(default)]
    pub mon: Vec<Span>,
    #[serde(default)]
    pub tue: Vec<Span>,
    #[serde(default)]
    pub wed: Vec<Span>,
    #[serde(default)]
    pub thu: Vec<Span>,
    #[serde(default)]
    pub fri: Vec<Span>,
    #[serde(default)]
    pub sat: Vec<Span>,
}

impl Week {
    pub fn day(&self, day: Weekday) -> &[Span] {
        match day {
            Weekday::Sun => &self.sun,
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
        }
    }

    fn days_mut(&mut self) -> [(&'static str, &mut Vec<Span>); 7] {
        [
            ("sun", &mut self.sun),
            ("mon", &mut self.mon),
            ("tue", &mut self.tue),
            ("wed", &mut self.wed),
            ("thu", &mut self.thu),
            ("fri", &mut self.fri),
            ("sat", &mut self.sat),
        ]
    }
}

/// When the desk takes live chats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// An IANA zone name, e.g. `"Asia/Bahrain"`.
    pub time_zone: Tz,
    pub week: Week,
    /// Whole days closed, as dates of the schedule's zone (`"YYYY-MM-DD"`).
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
}

impl Default for Schedule {
    /// Government hours: Sunday to Thursday 07:00–14:00 in Bahrain.
    fn default() -> Self {
        let hours = vec![Span { open: Clock::hm(7, 0), close: Clock::hm(14, 0) }];
        Schedule {
            time_zone: chrono_tz::Asia::Bahrain,
            week: Week {
                sun: hours.clone(),
                mon: hours.clone(),
                tue: hours.clone(),
                wed: hours.clone(),
                thu: hours,
                fri: vec![],
                sat: vec![],
            },
            holidays: BTreeSet::new(),
        }
    }
}

impl Schedule {
    /// The schedule as an admin may set it: each day's spans sorted, none empty or overlapping, at most
    /// [`MAX_SPANS_PER_DAY`] a day and [`MAX_HOLIDAYS`] holidays.
    pub fn checked(mut self) -> Result<Schedule> {
        if self.holidays.len() > MAX_HOLIDAYS {
            return Err(Error::bad_request(format!("At most {MAX_HOLIDAYS} holidays.")));
        }
        for (name, spans) in self.week.days_mut() {
            if spans.len() > MAX_SPANS_PER_DAY {
                return Err(Error::bad_request(format!("At most {MAX_SPANS_PER_DAY} opening spans on {name}.")));
            }
            spans.sort_by_key(|s| s.open);
            for span in spans.iter() {
                if span.open >= span.close {
                    return Err(Error::bad_request(format!(
                        "On {name}, {}–{} closes before it opens.",
                        span.open, span.close
                    )));
                }
            }
            if let Some(pair) = spans.windows(2).find(|w| w[1].open < w[0].close) {
                return Err(Error::bad_request(format!(
                    "On {name}, {}–{} overlaps {}–{}.",
                    pair[0].open, pair[0].close, pair[1].open, pair[1].close
                )));
            }
        }
        Ok(self)
    }

    /// Whether the desk is open at `now_ms`.
    pub fn is_open(&self, now_ms: u64) -> bool {
        let Some(local) = self.local(now_ms) else { return false };
        let date = local.date_naive();
        if self.holidays.contains(&date) {
            return false;
        }
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.week.day(date.weekday()).iter().any(|span| span.contains(minute))
    }

    /// The first instant at or after `now_ms` when the desk is open (`now_ms` itself while open), for "we open
    /// again Sunday 07:00". `None` if it never opens within [`LOOKAHEAD_DAYS`] (an empty week).
    pub fn next_open(&self, now_ms: u64) -> Option<u64> {
        if self.is_open(now_ms) {
            return Some(now_ms);
        }
        let today = self.local(now_ms)?.date_naive();
        for date in today.iter_days().take(LOOKAHEAD_DAYS) {
            if self.holidays.contains(&date) {
                continue;
            }
            for span in self.week.day(date.weekday()) {
                // A span that lies wholly in a skipped hour never opens: its first real minute is past its close.
                let opens = self.instant(date, span.open).filter(|&at| at > now_ms && self.is_open(at));
                if opens.is_some() {
                    return opens;
                }
            }
        }
        None
    }

    /// The schedule's wall-clock time at `ms`.
    pub fn local(&self, ms: u64) -> Option<DateTime<Tz>> {
        let utc = DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)?;
        Some(utc.with_timezone(&self.time_zone))
    }

    /// The instant the wall clock shows `clock` on `date`: the earlier of two, or the first existing minute after
    /// a skipped one.
    fn instant(&self, date: NaiveDate, clock: Clock) -> Option<u64> {
        let (date, minute) =
            if clock.0 >= MINUTES_PER_DAY { (date.succ_opt()?, clock.0 - MINUTES_PER_DAY) } else { (date, clock.0) };
        let mut local = date.and_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)?;
        for _ in 0..=MAX_GAP_MINUTES {
            match self.time_zone.from_local_datetime(&local) {
                LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                    return u64::try_from(at.timestamp_millis()).ok()
                }
                LocalResult::None => local += TimeDelta::minutes(1),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    /// Unix ms of a UTC date and time.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> u64 {
        let t = NaiveDate::from_ymd_opt(y, mo, d).and_then(|d| d.and_hms_opt(h, mi, 0)).expect("a real date");
        t.and_utc().timestamp_millis() as u64
    }

    fn span(open: &str, close: &str) -> Span {
        Span { open: open.parse().unwrap(), close: close.parse().unwrap() }
    }

    fn london(days: fn(&mut Week) -> &mut Vec<Span>, spans: Vec<Span>) -> Schedule {
        let mut week = Week::default();
        *days(&mut week) = spans;
        Schedule { time_zone: chrono_tz::Europe::London, week, holidays: BTreeSet::new() }
    }

    #[test]
    fn government_hours_in_bahrain_are_the_default() {
        let s = Schedule::default();
        // Sunday 3 May 2026; Bahrain is UTC+3 all year.
        assert!(!s.is_open(utc(2026, 5, 3, 3, 59)));
        assert!(s.is_open(utc(2026, 5, 3, 4, 0)));
        assert!(s.is_open(utc(2026, 5, 3, 10, 59)));
        assert!(!s.is_open(utc(2026, 5, 3, 11, 0)));
        // Friday and Saturday closed.
        assert!(!s.is_open(utc(2026, 5, 8, 6, 0)));
        assert!(!s.is_open(utc(2026, 5, 9, 6, 0)));
    }

    #[test]
    fn after_thursday_closing_it_opens_again_on_sunday_morning() {
        let s = Schedule::default();
        let thursday_closing = utc(2026, 5, 7, 11, 0);
        assert_eq!(s.next_open(thursday_closing), Some(utc(2026, 5, 10, 4, 0)));
        let local = s.local(utc(2026, 5, 10, 4, 0)).unwrap();
        assert_eq!((local.weekday(), local.hour()), (Weekday::Sun, 7));
        // Early on a working day: later the same morning. While open: now.
        assert_eq!(s.next_open(utc(2026, 5, 4, 1, 0)), Some(utc(2026, 5, 4, 4, 0)));
        assert_eq!(s.next_open(utc(2026, 5, 4, 5, 0)), Some(utc(2026, 5, 4, 5, 0)));
    }

    #[test]
    fn holidays_are_closed_and_skipped() {
        let mut s = Schedule::default();
        s.holidays.insert(NaiveDate::from_ymd_opt(2026, 5, 10).unwrap());
        s.holidays.insert(NaiveDate::from_ymd_opt(2026, 5, 11).unwrap());
        assert!(!s.is_open(utc(2026, 5, 10, 5, 0)));
        assert_eq!(s.next_open(utc(2026, 5, 7, 11, 0)), Some(utc(2026, 5, 12, 4, 0)));
    }

    #[test]
    fn the_holiday_is_a_date_of_the_schedules_zone() {
        let all_monday =
            Schedule { week: Week { mon: vec![span("00:00", "24:00")], ..Week::default() }, ..Schedule::default() };
        // 22:00 UTC on Sunday the 3rd is already 01:00 on Monday the 4th in Bahrain.
        assert!(all_monday.is_open(utc(2026, 5, 3, 22, 0)));
        assert!(all_monday.is_open(utc(2026, 5, 4, 20, 59)));
        assert!(!all_monday.is_open(utc(2026, 5, 4, 21, 0)));
        let mut holiday = all_monday;
        holiday.holidays.insert(NaiveDate::from_ymd_opt(2026, 5, 4).unwrap());
        assert!(!holiday.is_open(utc(2026, 5, 3, 22, 0)));
    }

    #[test]
    fn wall_clock_hours_hold_across_daylight_saving() {
        let s = london(|w| &mut w.mon, vec![span("09:00", "17:00")]);
        // Monday 23 March 2026 is GMT (UTC+0); Monday 30 March is BST (UTC+1).
        assert!(s.is_open(utc(2026, 3, 23, 9, 0)));
        assert!(!s.is_open(utc(2026, 3, 23, 8, 59)));
        assert!(s.is_open(utc(2026, 3, 30, 8, 0)));
        assert!(!s.is_open(utc(2026, 3, 30, 16, 0)));
        assert_eq!(s.next_open(utc(2026, 3, 23, 17, 0)), Some(utc(2026, 3, 30, 8, 0)));
        assert_eq!(s.next_open(utc(2026, 10, 20, 12, 0)), Some(utc(2026, 10, 26, 9, 0)));
    }

    #[test]
    fn an_opening_time_the_clock_skips_opens_when_the_clock_springs_forward() {
        // On 29 March 2026 London's clocks go from 01:00 GMT straight to 02:00 BST; 01:30 never happens.
        let s = london(|w| &mut w.sun, vec![span("01:30", "03:00")]);
        let spring = utc(2026, 3, 29, 1, 0);
        assert_eq!(s.next_open(utc(2026, 3, 28, 12, 0)), Some(spring));
        assert!(s.is_open(spring));
        assert!(!s.is_open(spring - 1));
        // A span wholly inside the skipped hour does not open that day.
        let skipped = london(|w| &mut w.sun, vec![span("01:10", "01:50")]);
        assert_eq!(skipped.next_open(utc(2026, 3, 28, 12, 0)), Some(utc(2026, 4, 5, 0, 10)));
    }

    #[test]
    fn an_opening_time_that_happens_twice_opens_the_first_time() {
        // On 25 October 2026 01:00–02:00 BST is followed by 01:00–02:00 GMT.
        let s = london(|w| &mut w.sun, vec![span("01:30", "04:00")]);
        assert_eq!(s.next_open(utc(2026, 10, 24, 12, 0)), Some(utc(2026, 10, 25, 0, 30)));
    }

    #[test]
    fn an_empty_week_never_opens() {
        let s = Schedule { week: Week::default(), ..Schedule::default() };
        assert!(!s.is_open(utc(2026, 5, 3, 5, 0)));
        assert_eq!(s.next_open(utc(2026, 5, 3, 5, 0)), None);
    }

    #[test]
    fn schedules_from_the_api_are_checked() {
        let ok: Schedule = serde_json::from_str(
            r#"{ "time_zone": "Asia/Bahrain",
                 "week": { "sun": [ { "open": "12:00", "close": "14:00" }, { "open": "07:00", "close": "11:00" } ] },
                 "holidays": ["2026-12-16"] }"#,
        )
        .unwrap();
        let ok = ok.checked().unwrap();
        assert_eq!(ok.week.sun[0].open, Clock::hm(7, 0));
        assert_eq!(serde_json::to_value(&ok).unwrap()["week"]["sun"][1]["close"], "14:00");
        assert_eq!(serde_json::to_value(&ok).unwrap()["time_zone"], "Asia/Bahrain");

        let bad = |week: Week| Schedule { week, ..Schedule::default() }.checked().unwrap_err().code;
        assert_eq!(bad(Week { mon: vec![span("10:00", "09:00")], ..Week::default() }), ErrorCode::BadRequest);
        assert_eq!(bad(Week { mon: vec![span("10:00", "10:00")], ..Week::default() }), ErrorCode::BadRequest);
        assert_eq!(
            bad(Week { mon: vec![span("07:00", "12:00"), span("11:00", "14:00")], ..Week::default() }),
            ErrorCode::BadRequest
        );
        assert_eq!(bad(Week { mon: vec![span("01:00", "02:00"); 5], ..Week::default() }), ErrorCode::BadRequest);
        let mut many = Schedule::default();
        let first = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        many.holidays = first.iter_days().take(MAX_HOLIDAYS + 1).collect();
        assert!(many.checked().is_err());
    }

    #[test]
    fn malformed_times_and_zones_are_refused() {
        for text in ["7:00", "07:60", "24:30", "25:00", "0700", "ab:cd", ""] {
            assert!(text.parse::<Clock>().is_err(), "{text}");
        }
        assert_eq!("24:00".parse::<Clock>().unwrap().minutes(), 1440);
        let zone = r#"{ "time_zone": "Mars/Olympus", "week": {} }"#;
        assert!(serde_json::from_str::<Schedule>(zone).is_err());
        let time = r#"{ "time_zone": "UTC", "week": { "sun": [ { "open": "7", "close": "14:00" } ] } }"#;
        assert!(serde_json::from_str::<Schedule>(time).is_err());
    }
}
