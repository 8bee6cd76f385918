//! The US federal business-day calendar, for deadlines counted in business
//! days (SEC Form 8-K: "within four business days").
//!
//! Sources, as they read on 2026-12-01 (not legal advice):
//! - Regulation S-T, 17 CFR 232.11: a business day is "any day, other than
//!   Saturdays, Sundays or United States federal holidays".
//! - 5 U.S.C. 6103(a): the legal public holidays, listed in [`holidays`];
//!   Juneteenth since the Act of June 17, 2021 (Pub. L. 117-17).
//! - 5 U.S.C. 6103(b) and Executive Order 11582: a holiday on a Saturday is
//!   observed on the Friday before, one on a Sunday on the Monday after.
//! - 17 CFR 232.13(a): filings made after 5:30 p.m. Eastern time are dated the
//!   next business day, so a day's deadline is 17:30 in New York.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;

/// The end of the `days`-th US business day after `start`'s date in New
/// York: 17:30 Eastern. None beyond the calendar's range.
pub fn after_us_business_days(start: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    let mut date = start.with_timezone(&New_York).date_naive();
    let mut counted = 0;
    while counted < days {
        date = date.succ_opt()?;
        if is_us_business_day(date) {
            counted += 1;
        }
    }
    let cut_off = NaiveTime::from_hms_opt(17, 30, 0)?;
    // 17:30 always exists in New York: clocks change at 02:00.
    let local = New_York
        .from_local_datetime(&date.and_time(cut_off))
        .earliest()?;
    Some(local.with_timezone(&Utc))
}

pub fn is_us_business_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !is_us_federal_holiday(date)
}

/// Whether `date` is a federal holiday as observed (moved off weekends).
pub fn is_us_federal_holiday(date: NaiveDate) -> bool {
    // A holiday observed on this date may belong to the year before (New
    // Year's Day on a Saturday is observed on 31 December) or after.
    [date.year() - 1, date.year(), date.year() + 1]
        .into_iter()
        .flat_map(holidays)
        .any(|holiday| observed(holiday) == date)
}

/// The legal public holidays of 5 U.S.C. 6103(a) in `year`, on their own
/// dates (not yet moved off weekends).
fn holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day);
    let nth = |month, weekday, n| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n);
    let last_monday_of_may = (1..=5)
        .rev()
        .find_map(|n| NaiveDate::from_weekday_of_month_opt(year, 5, Weekday::Mon, n));
    let mut days = vec![
        fixed(1, 1),              // New Year's Day
        nth(1, Weekday::Mon, 3),  // Birthday of Martin Luther King, Jr.
        nth(2, Weekday::Mon, 3),  // Washington's Birthday
        last_monday_of_may,       // Memorial Day
        fixed(7, 4),              // Independence Day
        nth(9, Weekday::Mon, 1),  // Labor Day
        nth(10, Weekday::Mon, 2), // Columbus Day
        fixed(11, 11),            // Veterans Day
        nth(11, Weekday::Thu, 4), // Thanksgiving Day
        fixed(12, 25),            // Christmas Day
    ];
    if year >= 2021 {
        days.push(fixed(6, 19)); // Juneteenth National Independence Day
    }
    days.into_iter().flatten().collect()
}

fn observed(holiday: NaiveDate) -> NaiveDate {
    match holiday.weekday() {
        Weekday::Sat => holiday - Duration::days(1),
        Weekday::Sun => holiday + Duration::days(1),
        _ => holiday,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_2027_federal_holidays_as_opm_lists_them() {
        // OPM's 2027 table: Juneteenth (Sat 19 June) on Fri 18, Independence
        // Day (Sun 4 July) on Mon 5, Christmas (Sat 25 Dec) on Fri 24, and
        // New Year's Day 2028 (Sat) on Fri 31 December 2027.
        let expected = [
            date(2027, 1, 1),
            date(2027, 1, 18),
            date(2027, 2, 15),
            date(2027, 5, 31),
            date(2027, 6, 18),
            date(2027, 7, 5),
            date(2027, 9, 6),
            date(2027, 10, 11),
            date(2027, 11, 11),
            date(2027, 11, 25),
            date(2027, 12, 24),
            date(2027, 12, 31),
        ];
        let found: Vec<NaiveDate> = date(2027, 1, 1)
            .iter_days()
            .take_while(|day| day.year() == 2027)
            .filter(|day| is_us_federal_holiday(*day))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn four_business_days_skip_a_monday_holiday() {
        // Friday 15 January 2027, 15:00 in New York; Monday 18 is Martin
        // Luther King Day: Tue, Wed, Thu, Fri.
        let start = New_York
            .with_ymd_and_hms(2027, 1, 15, 15, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let due = after_us_business_days(start, 4).unwrap();
        assert_eq!(due.to_rfc3339(), "2027-01-22T22:30:00+00:00");
    }

    #[test]
    fn a_weekend_determination_counts_from_the_next_business_day() {
        // Form 8-K General Instruction B.1: an event on a Saturday, Sunday or
        // holiday starts the period on, and includes, the first business day
        // after it. Saturday 9 January 2027: Monday 11 to Thursday 14.
        let start = Utc.with_ymd_and_hms(2027, 1, 9, 15, 0, 0).unwrap();
        let due = after_us_business_days(start, 4).unwrap();
        assert_eq!(due.to_rfc3339(), "2027-01-14T22:30:00+00:00");
        // Late on a Friday evening in New York, already Saturday in UTC:
        // New York's date counts, so Monday is the first day.
        let friday_night = Utc.with_ymd_and_hms(2027, 1, 9, 3, 0, 0).unwrap();
        let due = after_us_business_days(friday_night, 1).unwrap();
        assert_eq!(due.to_rfc3339(), "2027-01-11T22:30:00+00:00");
    }

    #[test]
    fn the_cut_off_follows_daylight_saving_time() {
        // Thursday 11 March 2027; clocks go forward on Sunday 14 March.
        let start = Utc.with_ymd_and_hms(2027, 3, 11, 14, 0, 0).unwrap();
        let due = after_us_business_days(start, 4).unwrap();
        assert_eq!(due.to_rfc3339(), "2027-03-17T21:30:00+00:00");
    }
}
