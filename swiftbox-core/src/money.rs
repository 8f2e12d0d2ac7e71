//! Exact money: integer minor units (cents) and an ISO-4217-style currency code. Never `f64`.

use std::fmt;

use crate::error::Error;

/// A three-letter upper-case currency code such as `USD` or `EUR`.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollars.
    pub const USD: Currency = Currency(*b"USD");
    /// Euros.
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parses a code of exactly three ASCII upper-case letters.
    pub fn parse(code: &str) -> Result<Self, Error> {
        match code.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => {
                Ok(Currency([*a, *b, *c]))
            }
            _ => Err(Error::invalid(
                "currency",
                "must be three upper-case letters such as USD",
            )),
        }
    }

    /// The code as a string slice.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl TryFrom<String> for Currency {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Currency::parse(&s)
    }
}

/// An exact amount of money: `minor` units (cents for USD) of `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    /// Amount in minor units; may be negative only in input, which validation refuses.
    pub minor: i64,
    /// Currency of the amount.
    pub currency: Currency,
}

impl Money {
    /// The largest amount a price may have: ten billion major units.
    pub const MAX_MINOR: i64 = 1_000_000_000_000;

    /// Builds an amount.
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// `self * quantity`, or [`Error::Invalid`] on overflow.
    pub fn times(self, quantity: i64, field: &str) -> Result<Money, Error> {
        self.minor
            .checked_mul(quantity)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or_else(|| Error::invalid(field, "amount overflows"))
    }

    /// `self + other` in the same currency, or [`Error::Invalid`] on overflow or mixed currencies.
    pub fn plus(self, other: Money, field: &str) -> Result<Money, Error> {
        if self.currency != other.currency {
            return Err(Error::invalid(field, "mixed currencies"));
        }
        self.minor
            .checked_add(other.minor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or_else(|| Error::invalid(field, "amount overflows"))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_parsing_is_strict() {
        assert_eq!(Currency::parse("EUR").unwrap(), Currency::EUR);
        for bad in ["eur", "EU", "EURO", "", "E1R"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn money_arithmetic_is_exact_and_checked() {
        let p = Money::new(1999, Currency::USD);
        assert_eq!(p.times(3, "x").unwrap().minor, 5997);
        assert_eq!(p.to_string(), "19.99 USD");
        assert!(p.times(i64::MAX, "x").is_err());
        assert!(p.plus(Money::new(1, Currency::EUR), "x").is_err());
    }
}
