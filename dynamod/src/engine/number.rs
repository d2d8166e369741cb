//! DynamoDB numbers: arbitrary-precision decimals with at most 38 significant digits and a magnitude
//! between 1E-130 and 9.99…E+125, stored in canonical form (`"1.50"` is `1.5`, `"1E2"` is `100`).

use std::cmp::Ordering;
use std::str::FromStr;

use bigdecimal::num_bigint::Sign;
use bigdecimal::{BigDecimal, Zero};

use super::error::EngineError;

pub const MAX_DIGITS: usize = 38;
/// Largest allowed exponent in scientific notation (9.99…E+125).
pub const MAX_EXPONENT: i64 = 125;
/// Smallest allowed exponent in scientific notation (1E-130).
pub const MIN_EXPONENT: i64 = -130;

#[derive(Debug, Clone)]
pub struct Number {
    value: BigDecimal,
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl Eq for Number {}
impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl std::hash::Hash for Number {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_string().hash(state)
    }
}

impl Number {
    /// Parses a number the way DynamoDB accepts it, rejecting what it rejects.
    pub fn parse(text: &str) -> Result<Number, EngineError> {
        let trimmed = text.trim();
        let well_formed = !trimmed.is_empty()
            && trimmed.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
            && trimmed.bytes().any(|b| b.is_ascii_digit());
        if !well_formed {
            return Err(EngineError::Validation(format!(
                "The parameter cannot be converted to a numeric value: {text}"
            )));
        }
        let value = BigDecimal::from_str(trimmed).map_err(|_| {
            EngineError::Validation(format!("The parameter cannot be converted to a numeric value: {text}"))
        })?;
        Self::checked(value)
    }

    /// Canonicalises `value` and checks precision and range.
    pub fn checked(value: BigDecimal) -> Result<Number, EngineError> {
        let value = value.normalized();
        if value.is_zero() {
            return Ok(Number { value: BigDecimal::zero() });
        }
        let (digits, exponent) = digits_and_exponent(&value);
        if digits.len() > MAX_DIGITS {
            return Err(EngineError::Validation(
                "Attempting to store more than 38 significant digits in a Number".into(),
            ));
        }
        // exponent is for 0.d1d2…; scientific notation d1.d2… has exponent - 1.
        let sci = exponent - 1;
        if sci > MAX_EXPONENT {
            return Err(EngineError::Validation(
                "Number overflow. Attempting to store a number with magnitude larger than supported range".into(),
            ));
        }
        if sci < MIN_EXPONENT {
            return Err(EngineError::Validation(
                "Number underflow. Attempting to store a number with magnitude smaller than supported range".into(),
            ));
        }
        Ok(Number { value })
    }

    pub fn zero() -> Number {
        Number { value: BigDecimal::zero() }
    }

    pub fn is_negative(&self) -> bool {
        self.value.sign() == Sign::Minus
    }

    pub fn is_zero(&self) -> bool {
        self.value.is_zero()
    }

    pub fn add(&self, other: &Number) -> Result<Number, EngineError> {
        Self::checked(&self.value + &other.value)
    }

    pub fn sub(&self, other: &Number) -> Result<Number, EngineError> {
        Self::checked(&self.value - &other.value)
    }

    /// Significant decimal digits (no leading or trailing zeros) and the exponent `e` such that the
    /// magnitude is `0.d1d2… × 10^e`. Zero has no digits.
    pub fn digits_and_exponent(&self) -> (String, i64) {
        if self.value.is_zero() {
            return (String::new(), 0);
        }
        digits_and_exponent(&self.value)
    }

    /// Bytes DynamoDB counts for this number: one per two significant digits, plus one.
    pub fn size(&self) -> usize {
        let (digits, _) = self.digits_and_exponent();
        digits.len().div_ceil(2) + 1
    }
}

fn digits_and_exponent(value: &BigDecimal) -> (String, i64) {
    let (int, scale) = value.as_bigint_and_exponent();
    let mut digits = int.magnitude().to_string();
    let len = digits.len() as i64;
    let trimmed = digits.trim_end_matches('0').len();
    digits.truncate(trimmed);
    (digits, len - scale)
}

impl std::fmt::Display for Number {
    /// Plain notation, as DynamoDB returns numbers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_zero() {
            return f.write_str("0");
        }
        let (digits, exponent) = digits_and_exponent(&self.value);
        if self.is_negative() {
            f.write_str("-")?;
        }
        let n = digits.len() as i64;
        if exponent <= 0 {
            f.write_str("0.")?;
            for _ in 0..(-exponent) {
                f.write_str("0")?;
            }
            f.write_str(&digits)
        } else if exponent >= n {
            f.write_str(&digits)?;
            for _ in 0..(exponent - n) {
                f.write_str("0")?;
            }
            Ok(())
        } else {
            let (int, frac) = digits.split_at(exponent as usize);
            write!(f, "{int}.{frac}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        Number::parse(s).unwrap().to_string()
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(n("1.50"), "1.5");
        assert_eq!(n("1E2"), "100");
        assert_eq!(n("-0.00"), "0");
        assert_eq!(n("0.001"), "0.001");
        assert_eq!(n("+12.340e-1"), "1.234");
        assert_eq!(n("-123456789012345678901234567890.12345678"), "-123456789012345678901234567890.12345678");
    }

    #[test]
    fn limits() {
        assert!(Number::parse("12345678901234567890123456789012345678").is_ok());
        assert!(Number::parse("123456789012345678901234567890123456789").is_err());
        assert!(
            Number::parse("1000000000000000000000000000000000000000").is_ok(),
            "trailing zeros are not significant"
        );
        assert!(Number::parse("9.9999999999999999999999999999999999999E+125").is_ok());
        assert!(Number::parse("1E+126").is_err());
        assert!(Number::parse("1E-130").is_ok());
        assert!(Number::parse("1E-131").is_err());
        assert!(Number::parse("abc").is_err());
        assert!(Number::parse("").is_err());
        assert!(Number::parse("NaN").is_err());
    }

    #[test]
    fn exact_arithmetic() {
        let a = Number::parse("0.1").unwrap();
        let b = Number::parse("0.2").unwrap();
        assert_eq!(a.add(&b).unwrap().to_string(), "0.3");
        assert_eq!(a.sub(&b).unwrap().to_string(), "-0.1");
        let big = Number::parse("99999999999999999999999999999999999999").unwrap();
        assert!(big.add(&Number::parse("0.1").unwrap()).is_err(), "39 digits");
    }

    #[test]
    fn sizes() {
        assert_eq!(Number::parse("1").unwrap().size(), 2);
        assert_eq!(Number::parse("12").unwrap().size(), 2);
        assert_eq!(Number::parse("123").unwrap().size(), 3);
        assert_eq!(Number::parse("0").unwrap().size(), 1);
    }
}
