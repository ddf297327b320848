//! PNG: draw on an RGB buffer `supersample`× the final size, average it down (smooth
//! edges, since plotters' bitmap lines are not anti-aliased), and encode with `png`.

use plotters::prelude::BitMapBackend;

use super::canvas::BackendCanvas;
use super::{Exporter, ImageFormat, Prepared};

/// Writes PNG files.
#[derive(Debug, Clone, Copy)]
pub struct PngExporter {
    /// Drawing resolution multiplier (1 = none; 2 = four samples per pixel).
    pub supersample: u32,
}

impl Exporter for PngExporter {
    fn format(&self) -> ImageFormat {
        ImageFormat::Png
    }

    fn export(&self, chart: &Prepared<'_>) -> Result<Vec<u8>, String> {
        let (w, h) = chart.size();
        let ss = self.supersample.max(1);
        let (bw, bh) = (w * ss, h * ss);
        let mut buf = vec![255u8; bw as usize * bh as usize * 3];
        {
            let backend = BitMapBackend::with_buffer(&mut buf, (bw, bh));
            let mut canvas = BackendCanvas::new(backend, f64::from(ss), true);
            chart.draw(&mut canvas);
            canvas.finish()?;
        }
        let pixels = if ss == 1 {
            buf
        } else {
            downsample(&buf, bw as usize, w as usize, h as usize, ss as usize)
        };
        encode(&pixels, w, h)
    }
}

/// Average `ss`×`ss` blocks of an RGB image `src_w` pixels wide.
fn downsample(src: &[u8], src_w: usize, w: usize, h: usize, ss: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h * 3];
    let n = (ss * ss) as u32;
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0u32; 3];
            for dy in 0..ss {
                let row = (y * ss + dy) * src_w;
                for dx in 0..ss {
                    let i = (row + x * ss + dx) * 3;
                    acc[0] += u32::from(src[i]);
                    acc[1] += u32::from(src[i + 1]);
                    acc[2] += u32::from(src[i + 2]);
                }
            }
            let o = (y * w + x) * 3;
            for c in 0..3 {
                out[o + c] = ((acc[c] + n / 2) / n) as u8;
            }
        }
    }
    out
}

fn encode(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(rgb).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsample_averages_blocks() {
        // 2×2 source → 1×1: black, white, white, white → 191.
        let src = [0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255];
        assert_eq!(downsample(&src, 2, 1, 1, 2), [191, 191, 191]);
    }
}
