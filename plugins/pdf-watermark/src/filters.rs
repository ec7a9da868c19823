//! Stream filters needed to read cross-reference and object streams:
//! `/FlateDecode` (with PNG predictors) and no filter.

use miniz_oxide::inflate::{decompress_to_vec_with_limit, decompress_to_vec_zlib_with_limit};

use crate::PdfError;
use crate::object::{Dict, Object};

/// Decodes a stream's `raw` bytes per its dictionary, refusing output over
/// `limit` bytes (a deflate bomb stops there).
pub fn decode(dict: &Dict, raw: Vec<u8>, limit: usize) -> Result<Vec<u8>, PdfError> {
    let filters: Vec<&[u8]> = match dict.get("Filter") {
        None => Vec::new(),
        Some(Object::Name(n)) => vec![n.as_slice()],
        Some(Object::Array(items)) => items
            .iter()
            .map(|o| match o {
                Object::Name(n) => Ok(n.as_slice()),
                _ => Err(PdfError::invalid("a /Filter array holds a non-name")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(PdfError::invalid("/Filter is not a name or an array")),
    };
    let params = match dict.get("DecodeParms") {
        Some(Object::Dict(d)) => Some(d),
        Some(Object::Array(items)) => items.first().and_then(|o| match o {
            Object::Dict(d) => Some(d),
            _ => None,
        }),
        _ => None,
    };
    match filters.as_slice() {
        [] => {
            if raw.len() > limit {
                return Err(PdfError::limit(format!("a stream of {} bytes", raw.len())));
            }
            Ok(raw)
        }
        [b"FlateDecode" | b"Fl"] => {
            let data = inflate(&raw, limit)?;
            match params {
                Some(p) => unpredict(data, p),
                None => Ok(data),
            }
        }
        other => Err(PdfError::unsupported(format!(
            "stream filter {:?}; only /FlateDecode is read here",
            other
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
        ))),
    }
}

/// zlib inflate, falling back to raw deflate (some writers omit the
/// header or write a wrong checksum).
fn inflate(raw: &[u8], limit: usize) -> Result<Vec<u8>, PdfError> {
    match decompress_to_vec_zlib_with_limit(raw, limit) {
        Ok(data) => Ok(data),
        Err(e) if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput => Err(
            PdfError::limit(format!("a compressed stream inflates past {limit} bytes")),
        ),
        Err(zlib_error) => decompress_to_vec_with_limit(raw.get(2..).unwrap_or(&[]), limit)
            .or_else(|_| decompress_to_vec_with_limit(raw, limit))
            .map_err(|_| {
                PdfError::invalid(format!("a /FlateDecode stream is corrupt: {zlib_error}"))
            }),
    }
}

/// Undoes a `/Predictor` (PNG predictors 10-15; 1 is none).
fn unpredict(data: Vec<u8>, params: &Dict) -> Result<Vec<u8>, PdfError> {
    let predictor = params.int("Predictor").unwrap_or(1);
    if predictor == 1 {
        return Ok(data);
    }
    if !(10..=15).contains(&predictor) {
        return Err(PdfError::unsupported(format!("/Predictor {predictor}")));
    }
    let colors = params.int("Colors").unwrap_or(1);
    let bits = params.int("BitsPerComponent").unwrap_or(8);
    let columns = params.int("Columns").unwrap_or(1);
    if !(1..=32).contains(&colors)
        || ![1, 2, 4, 8, 16].contains(&bits)
        || !(1..=1 << 20).contains(&columns)
    {
        return Err(PdfError::invalid("bad /DecodeParms"));
    }
    let bytes_per_pixel = ((colors * bits + 7) / 8) as usize;
    let row = ((colors * bits * columns + 7) / 8) as usize;
    let mut out = Vec::with_capacity(data.len());
    let mut previous = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let (filter, line) = chunk.split_first().expect("chunks are not empty");
        let mut current = line.to_vec();
        current.resize(row, 0);
        for i in 0..row {
            let left = if i >= bytes_per_pixel {
                current[i - bytes_per_pixel]
            } else {
                0
            };
            let up = previous[i];
            let up_left = if i >= bytes_per_pixel {
                previous[i - bytes_per_pixel]
            } else {
                0
            };
            let add = match filter {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                f => return Err(PdfError::invalid(format!("PNG row filter {f}"))),
            };
            current[i] = current[i].wrapping_add(add);
        }
        out.extend_from_slice(&current[..line.len().min(row)]);
        previous = current;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use miniz_oxide::deflate::compress_to_vec_zlib;

    use super::*;

    fn dict(entries: &[(&str, Object)]) -> Dict {
        Dict(
            entries
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn flate_with_png_up_predictor() {
        // Two rows of 3 columns, "Up"-predicted: the second row stores the
        // difference to the first.
        let rows = [[1u8, 2, 3], [1, 2, 4]];
        let mut predicted = vec![2, 1, 2, 3, 2, 0, 0, 1];
        predicted.truncate(8);
        let raw = compress_to_vec_zlib(&predicted, 6);
        let params = dict(&[("Predictor", Object::Int(12)), ("Columns", Object::Int(3))]);
        let d = dict(&[
            ("Filter", Object::name("FlateDecode")),
            ("DecodeParms", Object::Dict(params)),
        ]);
        assert_eq!(decode(&d, raw, 1000).unwrap(), rows.concat());
    }

    #[test]
    fn every_png_filter_round_trips() {
        // Sub, Average and Paeth against hand-encoded rows.
        let first = [10u8, 20, 30, 40];
        let second = [11u8, 19, 35, 50];
        // Sub (1) on the first row: each byte minus its left neighbour.
        let sub: Vec<u8> = (0..4)
            .map(|i| first[i].wrapping_sub(if i > 0 { first[i - 1] } else { 0 }))
            .collect();
        // Paeth (4) on the second row.
        let paeth_row: Vec<u8> = (0..4)
            .map(|i| {
                let a = if i > 0 { second[i - 1] } else { 0 };
                let c = if i > 0 { first[i - 1] } else { 0 };
                second[i].wrapping_sub(paeth(a, first[i], c))
            })
            .collect();
        let mut data = vec![1];
        data.extend(&sub);
        data.push(4);
        data.extend(&paeth_row);
        let params = dict(&[("Predictor", Object::Int(15)), ("Columns", Object::Int(4))]);
        assert_eq!(unpredict(data, &params).unwrap(), [first, second].concat());
        let avg = vec![3, 10, 15, 20, 25];
        let params = dict(&[("Predictor", Object::Int(13)), ("Columns", Object::Int(4))]);
        assert_eq!(unpredict(avg, &params).unwrap(), [10, 20, 30, 40]);
    }

    #[test]
    fn bombs_and_unknown_filters_are_refused() {
        let raw = compress_to_vec_zlib(&vec![0u8; 100_000], 6);
        let d = dict(&[("Filter", Object::name("FlateDecode"))]);
        let err = decode(&d, raw, 10_000).unwrap_err();
        assert!(matches!(err, PdfError::Limit(_)), "{err}");
        let d = dict(&[("Filter", Object::name("LZWDecode"))]);
        assert!(matches!(
            decode(&d, vec![1, 2], 10),
            Err(PdfError::Unsupported(_))
        ));
        let d = dict(&[("Filter", Object::name("FlateDecode"))]);
        assert!(matches!(
            decode(&d, vec![1, 2, 3], 10),
            Err(PdfError::Invalid(_))
        ));
    }
}
