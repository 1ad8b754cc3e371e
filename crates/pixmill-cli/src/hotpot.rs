//! `pixmill hotpot ...`: every operation of Hotpot's client.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use pixmill::Provider;
use pixmill::hotpot::{
    Client, FileType, ImageStyle, NoiseCancellation, PictureCall, Rgb, SizeFactor, facts,
};
use pixmill::raw::hotpot::constants::{supersize_image_request, translate_file_request};
use serde_json::json;

use crate::batch::{BoxFuture, Failed, Item, Produced};
use crate::cli::{Images, Out, documented};
use crate::op::{Op, image_check, text_check};
use crate::setup::Setup;
use crate::{Plan, inputs};

const PROVIDER: Provider = Provider::Hotpot;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enlarge pictures (`supersize_image`).
    #[command(
        after_help = "Example:\n  pixmill hotpot supersize --factor 8 --style anime sprites/ -o large/"
    )]
    Supersize {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        /// How many times larger per side (default: the smallest).
        #[arg(long, value_parser = documented::<SizeFactor>(SizeFactor::VALUES.iter().copied()))]
        factor: Option<SizeFactor>,
        /// The kind of picture (default: `default`).
        #[arg(long, value_parser = documented::<ImageStyle>(supersize_image_request::IMAGE_STYLE_VALUES.iter().copied()))]
        style: Option<ImageStyle>,
        /// How much noise to remove (default: none).
        #[arg(long, value_parser = documented::<NoiseCancellation>(NoiseCancellation::VALUES.iter().copied()))]
        noise: Option<NoiseCancellation>,
    },
    /// Cut the subject out (`remove_background`).
    #[command(after_help = "Example:\n  pixmill hotpot remove-background products/ -o cutouts/")]
    RemoveBackground {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
    },
    /// Restore old photos (`restore_picture`).
    #[command(
        after_help = "Example:\n  pixmill hotpot restore --remove-scratches scans/ -o restored/"
    )]
    Restore {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        /// Also remove scratches.
        #[arg(long)]
        remove_scratches: bool,
    },
    /// Colourize black-and-white pictures (`colorize_picture`).
    #[command(
        after_help = "Example:\n  pixmill hotpot colorize --render-factor 20 old.jpg -o colour/"
    )]
    Colorize {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        /// The render factor: low for old or poor photos, high for sharp ones (default: the
        /// middle of the documented range).
        #[arg(long)]
        render_factor: Option<u32>,
    },
    /// Apply the style of other pictures to each input (`remix_art`).
    #[command(
        after_help = "Example:\n  pixmill hotpot remix-art --style-image starry.jpg portraits/ -o art/"
    )]
    RemixArt {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        /// A style picture (repeat for several, combined in order).
        #[arg(long = "style-image", required = true, value_name = "FILE")]
        styles: Vec<PathBuf>,
        /// A more cartoon-like result instead of one close to the input.
        #[arg(long)]
        cartoon: bool,
    },
    /// Blur faces (`blur_face`).
    #[command(after_help = "Example:\n  pixmill hotpot blur-face --blur-text street/ -o redacted/")]
    BlurFace {
        #[command(flatten)]
        images: Images,
        #[command(flatten)]
        out: Out,
        /// Also blur text and similar sensitive content.
        #[arg(long)]
        blur_text: bool,
    },
    /// Print the dominant colours of each picture (`color_from_picture`).
    #[command(after_help = "Example:\n  pixmill hotpot colors logo.png banner.jpg")]
    Colors {
        #[command(flatten)]
        images: Images,
        /// How many pictures are sent at once.
        #[arg(short, long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
    },
    /// Print a palette matching some colours (`generate_color`).
    #[command(after_help = "Example:\n  pixmill hotpot palette '#585858' '#c82828'")]
    Palette {
        /// Hint colours as #rrggbb.
        #[arg(required = true, value_name = "COLOUR", value_parser = parse_rgb)]
        hints: Vec<Rgb>,
    },
    /// Translate the strings of a localization file and print them (`translate_file`).
    #[command(
        after_help = "Example:\n  pixmill hotpot translate --type strings.xml --from en --to fr Hello Settings"
    )]
    Translate {
        #[command(flatten)]
        translation: Translation,
    },
    /// Render a Hotpot.ai template graphic (`create_graphic`).
    #[command(
        after_help = "Example:\n  pixmill hotpot graphic app-store-1 --text 'Edit in seconds' --screenshot s1.png -o store/"
    )]
    Graphic {
        /// The template's design id.
        design_id: String,
        /// Text for the template's next text slot (repeat, in order).
        #[arg(long = "text", value_name = "TEXT")]
        texts: Vec<String>,
        /// A screenshot for the next screenshot slot (repeat, in order).
        #[arg(long = "screenshot", value_name = "FILE")]
        screenshots: Vec<PathBuf>,
        /// A picture for the next image slot (repeat, in order).
        #[arg(long = "image", value_name = "FILE")]
        pictures: Vec<PathBuf>,
        #[command(flatten)]
        out: Out,
    },
}

#[derive(Debug, Args)]
pub struct Translation {
    /// The format of the strings.
    #[arg(long = "type", value_parser = documented::<FileType>(translate_file_request::TYPE_VALUES.iter().copied()))]
    file_type: FileType,
    /// The language of the strings (`en`).
    #[arg(long)]
    from: String,
    /// The language to translate into (`fr`, `zh-Hans`).
    #[arg(long)]
    to: String,
    /// The strings.
    #[arg(required = true)]
    texts: Vec<String>,
}

/// `#rrggbb` (the `#` is optional).
fn parse_rgb(text: &str) -> Result<Rgb, String> {
    let hex = text.trim().trim_start_matches('#');
    let channel = |at: usize| {
        hex.get(at..at + 2)
            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            .ok_or_else(|| format!("`{text}` is not a #rrggbb colour"))
    };
    if hex.len() != 6 {
        return Err(format!("`{text}` is not a #rrggbb colour"));
    }
    Ok(Rgb::new(channel(0)?, channel(2)?, channel(4)?))
}

fn colours(colours: &[Rgb]) -> Vec<String> {
    colours.iter().map(Rgb::to_string).collect()
}

/// A picture call of `item`'s image, made by `call`.
fn picture<F>(name: &str, operation: &'static str, setup: &Setup, call: F) -> anyhow::Result<Op>
where
    F: Fn(&Client, PathBuf) -> PictureCall + Send + Sync + 'static,
{
    let client = setup.client(Setup::hotpot)?;
    let call = std::sync::Arc::new(call);
    Ok(Op::new(
        PROVIDER,
        name,
        move |item: Item| {
            let client = client.clone();
            let call = call.clone();
            Box::pin(async move {
                let output = call(client.get()?, item.image()?.to_path_buf()).await?;
                Ok(Produced::new(PROVIDER).file(output))
            }) as BoxFuture<'static, _>
        },
        // Hotpot documents no limits: the input only has to be an image.
        image_check(PROVIDER, operation, None, 1, None),
    ))
}

impl Command {
    pub fn plan(self, setup: &Setup) -> anyhow::Result<Plan> {
        let (images, out, op) = match self {
            Command::Supersize {
                images,
                out,
                factor,
                style,
                noise,
            } => {
                let op = picture(
                    "supersize",
                    "supersize_image",
                    setup,
                    move |client, path| {
                        let mut request = client.supersize(path);
                        if let Some(factor) = factor {
                            request = request.size_factor(factor);
                        }
                        if let Some(style) = style {
                            request = request.style(style);
                        }
                        if let Some(noise) = noise {
                            request = request.noise_cancellation(noise);
                        }
                        request.send()
                    },
                )?;
                (images, out, op)
            }
            Command::RemoveBackground { images, out } => {
                let op = picture(
                    "remove-background",
                    "remove_background",
                    setup,
                    |client, path| client.remove_background(path),
                )?;
                (images, out, op)
            }
            Command::Restore {
                images,
                out,
                remove_scratches,
            } => {
                let op = picture("restore", "restore_picture", setup, move |client, path| {
                    client.restore_picture(path, remove_scratches)
                })?;
                (images, out, op)
            }
            Command::Colorize {
                images,
                out,
                render_factor,
            } => {
                use facts::colorize_picture_request::{
                    RENDER_FACTOR_MAXIMUM, RENDER_FACTOR_MINIMUM,
                };
                // Neither the fastest nor the sharpest; out-of-range values are refused by
                // the client.
                let middle = u32::try_from((RENDER_FACTOR_MINIMUM + RENDER_FACTOR_MAXIMUM) / 2)
                    .unwrap_or_default();
                let factor = render_factor.unwrap_or(middle);
                let op = picture(
                    "colorize",
                    "colorize_picture",
                    setup,
                    move |client, path| client.colorize_picture(path, factor),
                )?;
                (images, out, op)
            }
            Command::RemixArt {
                images,
                out,
                styles,
                cartoon,
            } => {
                let op = picture("remix-art", "remix_art", setup, move |client, path| {
                    client.remix_art(path, styles.clone(), !cartoon)
                })?;
                (images, out, op)
            }
            Command::BlurFace {
                images,
                out,
                blur_text,
            } => {
                let op = picture("blur-face", "blur_face", setup, move |client, path| {
                    client.blur_face(path, blur_text)
                })?;
                (images, out, op)
            }
            Command::Colors { images, jobs } => {
                let client = setup.client(Setup::hotpot)?;
                let op = Op::new(
                    PROVIDER,
                    "colors",
                    move |item: Item| {
                        let client = client.clone();
                        Box::pin(async move {
                            let found = client.get()?.color_from_picture(item.image()?).await?;
                            let mut produced = Produced::new(PROVIDER);
                            produced.text.push(format!(
                                "{}: {}",
                                item.label,
                                colours(&found).join(" ")
                            ));
                            produced
                                .extra
                                .insert("colors".into(), json!(colours(&found)));
                            Ok(produced)
                        }) as BoxFuture<'static, _>
                    },
                    image_check(PROVIDER, "color_from_picture", None, 1, None),
                )
                .printing();
                let items =
                    inputs::images(&images.inputs, images.recursive, ".".as_ref(), "colors")?;
                return Ok(Plan::new(items, op.boxed(), jobs, false));
            }
            Command::Palette { hints } => {
                let client = setup.client(Setup::hotpot)?;
                let label = colours(&hints).join(" ");
                let op = Op::new(
                    PROVIDER,
                    "palette",
                    move |_item: Item| {
                        let client = client.clone();
                        let hints = hints.clone();
                        Box::pin(async move {
                            let palette = client.get()?.generate_color(&hints).await?;
                            let mut produced = Produced::new(PROVIDER);
                            produced.text.push(colours(&palette).join(" "));
                            produced
                                .extra
                                .insert("palette".into(), json!(colours(&palette)));
                            Ok(produced)
                        }) as BoxFuture<'static, _>
                    },
                    text_check(PROVIDER, "generate_color", None),
                )
                .printing();
                return Ok(Plan::new(
                    inputs::whole(label, ".".as_ref(), "palette"),
                    op.boxed(),
                    1,
                    false,
                ));
            }
            Command::Translate { translation } => {
                let client = setup.client(Setup::hotpot)?;
                let label = translation.texts.join(" | ");
                let op = Op::new(
                    PROVIDER,
                    "translate",
                    move |_item: Item| {
                        let client = client.clone();
                        let Translation {
                            file_type,
                            from,
                            to,
                            texts,
                        } = &translation;
                        let (file_type, from, to, texts) =
                            (*file_type, from.clone(), to.clone(), texts.clone());
                        Box::pin(async move {
                            let translated = client
                                .get()?
                                .translate_file(texts, file_type, from, to)
                                .await?;
                            let mut produced = Produced::new(PROVIDER);
                            produced.text.clone_from(&translated);
                            produced
                                .extra
                                .insert("translations".into(), json!(translated));
                            Ok(produced)
                        }) as BoxFuture<'static, _>
                    },
                    text_check(PROVIDER, "translate_file", None),
                )
                .printing();
                return Ok(Plan::new(
                    inputs::whole(label, ".".as_ref(), "translate"),
                    op.boxed(),
                    1,
                    false,
                ));
            }
            Command::Graphic {
                design_id,
                texts,
                screenshots,
                pictures,
                out,
            } => {
                let client = setup.client(Setup::hotpot)?;
                let stem = design_id.trim().to_string();
                let label = design_id.clone();
                let op = Op::new(
                    PROVIDER,
                    "graphic",
                    move |_item: Item| {
                        let request = client.get().map(|client| {
                            client
                                .create_graphic(design_id.clone())
                                .texts(texts.clone())
                                .screenshots(screenshots.clone())
                                .images(pictures.clone())
                        });
                        Box::pin(async move {
                            let output = request?.send().await.map_err(Failed::from)?;
                            Ok(Produced::new(PROVIDER).file(output))
                        }) as BoxFuture<'static, _>
                    },
                    text_check(PROVIDER, "create_graphic", None),
                );
                let name = format!("{stem}-{}", op_name(&op));
                let items = inputs::whole(label, &out.out_dir, &name);
                return Ok(Plan::new(items, op.boxed(), 1, out.overwrite));
            }
        };
        let items = inputs::images(
            &images.inputs,
            images.recursive,
            &out.out_dir,
            &op_name(&op),
        )?;
        Ok(Plan::new(items, op.boxed(), out.jobs, out.overwrite))
    }
}

fn op_name(op: &Op) -> String {
    crate::batch::Action::name(op).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_hex_triples() {
        assert_eq!(parse_rgb("#0a80ff").unwrap(), Rgb::new(10, 128, 255));
        assert_eq!(parse_rgb("0A80FF").unwrap(), Rgb::new(10, 128, 255));
        assert!(parse_rgb("#0a80f").is_err());
        assert!(parse_rgb("#zz0000").is_err());
        assert!(parse_rgb("#é0000").is_err());
    }
}
