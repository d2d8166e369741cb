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

fn too_many_digits() -> EngineError {
    EngineError::Validation("Attempting to store more than 38 significant digits in a Number".into())
}

/// What one linear pass learns of a long number string.
#[derive(Debug, PartialEq)]
enum Compact {
    Zero,
    TooManyDigits,
    /// Not of the form `[+-]digits[.digits][e[+-]digits]`.
    Malformed,
    /// The same value written with only its significant digits (`-12e-3`).
    Same(String),
}

/// Texts up to this long are parsed as they are.
const COMPACT_ABOVE: usize = 64;

/// Rewrites a long, well-formed number text (zero padding, or a flood of digits) in a few
/// characters in one pass: BigDecimal's parsing and normalising are quadratic in the number of
/// digits (4 M digits took 32 s, on a request worker). `None`: short enough to parse as it is.
fn compact(text: &str) -> Option<Compact> {
    if text.len() <= COMPACT_ABOVE {
        return None;
    }
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => {
            let e = &text[i + 1..];
            let magnitude = e.strip_prefix(['+', '-']).unwrap_or(e);
            if !all_digits(magnitude) {
                return Some(Compact::Malformed);
            }
            // Beyond i64 the number is out of range either way; keep it out of range.
            let clamped = if e.starts_with('-') { i64::MIN / 2 } else { i64::MAX / 2 };
            (&text[..i], e.parse::<i64>().unwrap_or(clamped))
        }
        None => (text, 0),
    };
    let unsigned = mantissa.strip_prefix(['+', '-']).unwrap_or(mantissa);
    let negative = mantissa.starts_with('-');
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits_or_empty = |s: &str| s.is_empty() || all_digits(s);
    if int_part.len() + frac_part.len() == 0 || !digits_or_empty(int_part) || !digits_or_empty(frac_part) {
        return Some(Compact::Malformed);
    }
    let digits = || int_part.bytes().chain(frac_part.bytes());
    let Some(first) = digits().position(|b| b != b'0') else { return Some(Compact::Zero) };
    let trailing_zeros = digits().rev().position(|b| b != b'0').unwrap_or(0);
    let last = int_part.len() + frac_part.len() - 1 - trailing_zeros;
    if last - first + 1 > MAX_DIGITS {
        return Some(Compact::TooManyDigits);
    }
    let significant: String = digits().skip(first).take(last - first + 1).map(char::from).collect();
    // The last significant digit's power of ten.
    let power = exponent as i128 + int_part.len() as i128 - 1 - last as i128;
    let sign = if negative { "-" } else { "" };
    Some(Compact::Same(format!("{sign}{significant}e{power}")))
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
        let compacted;
        let source = match compact(trimmed) {
            Some(Compact::Zero) => return Ok(Number::zero()),
            Some(Compact::TooManyDigits) => return Err(too_many_digits()),
            Some(Compact::Malformed) => {
                return Err(EngineError::Validation(format!(
                    "The parameter cannot be converted to a numeric value: {text}"
                )));
            }
            Some(Compact::Same(short)) => {
                compacted = short;
                compacted.as_str()
            }
            None => trimmed,
        };
        let value = BigDecimal::from_str(source).map_err(|_| {
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
            return Err(too_many_digits());
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
    proptest::proptest! {
        /// Whatever the padding, a long text means what BigDecimal makes of it (the slow way).
        #[test]
        fn compacting_keeps_the_value(
            negative: bool,
            lead in 0usize..80, int in "[0-9]{0,45}", frac in "[0-9]{0,45}", trail in 0usize..80,
            exponent in proptest::option::of(-200i64..200),
        ) {
            use std::str::FromStr;
            let sign = if negative { "-" } else { "" };
            let mut text = format!("{sign}{}{int}.{frac}{}", "0".repeat(lead), "0".repeat(trail));
            if let Some(e) = exponent {
                text.push_str(&format!("e{e}"));
            }
            proptest::prop_assume!(text.len() > super::COMPACT_ABOVE && (int.len() + frac.len() + lead + trail) > 0);
            let slow = super::BigDecimal::from_str(&text).map_err(|e| e.to_string()).map(Number::checked);
            let fast = Number::parse(&text);
            match (slow, fast) {
                (Ok(Ok(a)), Ok(b)) => proptest::prop_assert_eq!(a, b),
                (Ok(Err(a)), Err(b)) => proptest::prop_assert_eq!(a.to_string(), b.to_string()),
                (slow, fast) => proptest::prop_assert!(false, "{text}: {slow:?} vs {fast:?}"),
            }
        }
    }

    #[test]
    fn long_texts_are_compacted_to_the_same_value() {
        use super::{Compact, compact};
        let z = |n: usize| "0".repeat(n);
        assert_eq!(compact("12.5"), None, "short texts parse as they are");
        assert_eq!(compact(&format!("{}12.50{}", z(80), z(80))), Some(Compact::Same("125e-1".into())));
        assert_eq!(compact(&format!("-1{}", z(100))), Some(Compact::Same("-1e100".into())));
        assert_eq!(compact(&format!("0.{}7e5", z(99))), Some(Compact::Same("7e-95".into())));
        assert_eq!(compact(&format!("+{}.{}", z(50), z(50))), Some(Compact::Zero));
        assert_eq!(compact(&"3".repeat(39 + 64)), Some(Compact::TooManyDigits));
        assert_eq!(compact(&format!("{}1.2.3", z(80))), Some(Compact::Malformed));
        assert_eq!(compact(&format!("{}1e5e5", z(80))), Some(Compact::Malformed));
        assert_eq!(
            compact(&format!("{}1e{}", z(80), "9".repeat(30))),
            Some(Compact::Same(format!("1e{}", i64::MAX / 2)))
        );
        for (long, short) in [
            (format!("{}123.456{}", z(70), z(70)), "123.456"),
            (format!("-0.{}1e130", z(100)), "-1e29"),
            (format!("1{}e-100", z(100)), "1"),
        ] {
            assert_eq!(Number::parse(&long).unwrap(), Number::parse(short).unwrap(), "{long}");
        }
        let started = std::time::Instant::now();
        assert!(Number::parse(&"3".repeat(4_000_000)).is_err());
        assert!(Number::parse(&format!("1{}", z(4_000_000))).is_err(), "overflow");
        assert!(Number::parse(&format!("{}1", z(4_000_000))).is_ok());
        assert!(Number::parse(&format!("{}e99999999999999999999", "3".repeat(4_000_000))).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "linear in the text");
    }

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
