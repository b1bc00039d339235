//! `GET /api/payment-links/{id}/qr`: the link's URL as a QR code, for print and screens.
//! `?format=svg` (default) or `png`; `?size=` in pixels (64–2048, default 256). Public: the
//! code shows nothing the link's URL does not.

use std::io::Cursor;

use image::{ImageFormat, Luma};
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use super::http::query_once;
use super::{Caller, path_parameter, public_base_url};
use crate::app::App;
use crate::error::ApiError;
use crate::links;
use crate::validate::ValidationErrors;

const DEFAULT_SIZE: u32 = 256;
const SIZES: std::ops::RangeInclusive<u32> = 64..=2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Svg,
    Png,
}

pub async fn handle(request: &Request, app: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    let (format, size) = read_query(request)?;
    let link = links::find(app.store.as_ref(), path_parameter(request, "id")).await?;
    let url = format!("{}/pay/{}", public_base_url(request, app), link.id);
    // Medium error correction survives smudged prints while keeping the code small.
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::Internal(format!("QR encode: {e}")))?;
    let (content_type, body) = match format {
        Format::Svg => {
            let svg = code.render::<svg::Color>().min_dimensions(size, size).build();
            ("image/svg+xml", Body::Text(svg))
        }
        Format::Png => {
            let image = code.render::<Luma<u8>>().min_dimensions(size, size).build();
            let mut png = Vec::new();
            image
                .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
                .map_err(|e| ApiError::Internal(format!("PNG encode: {e}")))?;
            ("image/png", Body::Binary(png))
        }
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        // Public: it shows nothing the link's URL does not, so an invoice email's `<img>` can
        // load it and caches can keep it (a link's URL never changes).
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(body)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn read_query(request: &Request) -> Result<(Format, u32), ApiError> {
    let query = request.query_string_parameters();
    let mut errors = Vec::new();
    let format = match query_once(&query, "format", &mut errors) {
        None | Some("svg") => Format::Svg,
        Some("png") => Format::Png,
        Some(_) => {
            errors.push("format: must be \"svg\" or \"png\"".to_owned());
            Format::Svg
        }
    };
    let size = match query_once(&query, "size", &mut errors) {
        None => DEFAULT_SIZE,
        Some(text) => match text.parse::<u32>() {
            Ok(size) if SIZES.contains(&size) => size,
            _ => {
                errors.push(format!(
                    "size: must be a whole number of pixels from {} to {}",
                    SIZES.start(),
                    SIZES.end()
                ));
                DEFAULT_SIZE
            }
        },
    };
    if errors.is_empty() { Ok((format, size)) } else { Err(ValidationErrors(errors).into()) }
}
