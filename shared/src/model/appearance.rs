//! A merchant's branding of the checkout page, typed so only colours and lengths reach CSS.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A merchant's branding for the checkout page. Every value is typed and validated (colours
/// are `#rrggbb`, the radius a small integer), so what reaches the page's style block can
/// only ever be a colour or a length: never CSS text of the merchant's choosing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Appearance {
    /// Accents: focus rings, the chosen donation amount, and the pay button unless
    /// `button_background_color` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<HexColor>,
    /// The page behind the checkout card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<HexColor>,
    /// Text on the (white) checkout card; validated to be readable on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_color: Option<HexColor>,
    /// The pay button; its label is black or white, whichever reads better on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_background_color: Option<HexColor>,
    /// Shown above the merchant's name; checked like every other URL a page loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Corner radius of the card, fields and buttons, in CSS pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub border_radius: Option<u8>,
}

impl Appearance {
    /// The largest `border_radius` accepted.
    pub const MAX_BORDER_RADIUS: u8 = 32;
    /// The contrast `text_color` must reach on the white card (WCAG AA for body text).
    pub const MIN_TEXT_CONTRAST: f64 = 4.5;

    pub fn is_empty(&self) -> bool {
        *self == Appearance::default()
    }
}

/// A colour written `#rrggbb` in lower case. Parsed from `#rgb` or `#rrggbb` (any case) and
/// nothing else, also when read back from a store, so it is always safe inside CSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HexColor([u8; 3]);

impl HexColor {
    pub const WHITE: HexColor = HexColor([0xff, 0xff, 0xff]);
    pub const BLACK: HexColor = HexColor([0, 0, 0]);

    /// WCAG 2 relative luminance, 0 (black) to 1 (white).
    pub fn relative_luminance(self) -> f64 {
        let linear = |channel: u8| {
            let c = f64::from(channel) / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        let [r, g, b] = self.0;
        0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }

    /// WCAG 2 contrast ratio, 1 to 21.
    pub fn contrast_with(self, other: HexColor) -> f64 {
        let (a, b) = (self.relative_luminance(), other.relative_luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// Black or white, whichever is easier to read on this colour (always at least 4.5:1).
    pub fn readable_text(self) -> HexColor {
        if self.contrast_with(HexColor::WHITE) >= self.contrast_with(HexColor::BLACK) {
            HexColor::WHITE
        } else {
            HexColor::BLACK
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a hex colour")]
pub struct InvalidColor;

impl FromStr for HexColor {
    type Err = InvalidColor;
    fn from_str(text: &str) -> Result<Self, InvalidColor> {
        let digits = text.strip_prefix('#').ok_or(InvalidColor)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidColor);
        }
        let nibble = |i: usize| u8::from_str_radix(&digits[i..=i], 16).map_err(|_| InvalidColor);
        match digits.len() {
            3 => Ok(HexColor([nibble(0)? * 17, nibble(1)? * 17, nibble(2)? * 17])),
            6 => {
                let byte = |i: usize| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| InvalidColor);
                Ok(HexColor([byte(0)?, byte(2)?, byte(4)?]))
            }
            _ => Err(InvalidColor),
        }
    }
}

impl TryFrom<String> for HexColor {
    type Error = InvalidColor;
    fn try_from(text: String) -> Result<Self, InvalidColor> {
        text.parse()
    }
}

impl From<HexColor> for String {
    fn from(color: HexColor) -> String {
        color.to_string()
    }
}

impl fmt::Display for HexColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}
