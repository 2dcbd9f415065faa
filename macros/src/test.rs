//! The attribute macros: `#[detsim::test]`, the facade's `#[tokio::test]` and
//! `#[tokio::main]`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, LitStr, Meta, MetaNameValue, ReturnType, Token};

/// Arguments of the attributes, as `name = literal` pairs.
fn parse_args(args: TokenStream) -> syn::Result<Vec<(String, Lit, proc_macro2::Span)>> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut out = Vec::new();
    for meta in metas {
        match meta {
            Meta::NameValue(MetaNameValue {
                path,
                value: Expr::Lit(ExprLit { lit, .. }),
                ..
            }) => {
                let name = path.to_token_stream().to_string().replace(' ', "");
                out.push((name, lit, syn::spanned::Spanned::span(&path)));
            }
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "expected `name = value` (a literal value)",
                ));
            }
        }
    }
    Ok(out)
}

/// Checks the function: `async`, and (for a test) no arguments.
fn check_fn(item: &ItemFn, attribute: &str, arguments_allowed: bool) -> syn::Result<()> {
    if item.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            item.sig.fn_token,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    if !arguments_allowed && !item.sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &item.sig.inputs,
            format!("a function marked `{attribute}` takes no arguments"),
        ));
    }
    Ok(())
}

/// The `#[test]` function that replaces `item`: its attributes, visibility and name,
/// with `call` (which runs the body as a sweep) as its whole body.
fn test_fn(item: &ItemFn, call: TokenStream) -> TokenStream {
    let attrs = &item.attrs;
    let vis = &item.vis;
    let name = &item.sig.ident;
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() {
            #call
        }
    }
}

/// `|| async { …body… }`: a closure the sweep calls once per seed. A body returning a
/// `Result` fails the seed on `Err`, with the error's `Debug`.
fn body_closure(item: &ItemFn) -> TokenStream {
    let block = &item.block;
    let (ret, finish) = match &item.sig.output {
        ReturnType::Default => (quote!(()), quote!()),
        ReturnType::Type(_, ty) => (
            quote!(#ty),
            quote! {
                if let ::core::result::Result::Err(error) = __detsim_result {
                    ::core::panic!("the test returned an error: {error:?}");
                }
            },
        ),
    };
    quote! {
        || async {
            let __detsim_body = async #block;
            let __detsim_body: ::core::pin::Pin<
                &mut dyn ::core::future::Future<Output = #ret>,
            > = ::core::pin::pin!(__detsim_body);
            #[allow(clippy::let_unit_value)]
            let __detsim_result = __detsim_body.await;
            #finish
        }
    }
}

/// `#[detsim::test(seeds = N, scheduler = "pct:3")]`, or `#[detsim::test(exhaustive = K)]`.
pub(crate) fn detsim_test(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let item: ItemFn = syn::parse2(item)?;
    check_fn(&item, "#[detsim::test]", false)?;
    let mut settings = TokenStream::new();
    for (name, lit, span) in parse_args(args)? {
        match (name.as_str(), &lit) {
            ("seeds", Lit::Int(n)) => {
                let n: u64 = n.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new(span, "`seeds` must be at least 1"));
                }
                settings.extend(quote!(.seeds(#n)));
            }
            ("scheduler", Lit::Str(s)) => {
                check_scheduler(s)?;
                settings.extend(quote! {
                    .scheduler(
                        #s.parse::<::detsim::Scheduler>()
                            .expect("#[detsim::test]: the scheduler argument"),
                    )
                });
            }
            ("exhaustive", Lit::Int(k)) => {
                let k: u32 = k.base10_parse()?;
                settings.extend(quote!(.exhaustive(#k)));
            }
            _ => {
                return Err(syn::Error::new(
                    span,
                    "unknown argument: #[detsim::test] takes `seeds = N`, \
                     `scheduler = \"random\" | \"fifo\" | \"portfolio\" | \"pct:<depth>\"` \
                     and `exhaustive = K`",
                ));
            }
        }
    }
    let body = body_closure(&item);
    Ok(test_fn(
        &item,
        quote!(::detsim::Builder::new()#settings.check(#body);),
    ))
}

/// Rejects a scheduler string at compile time exactly when it cannot parse at run time:
/// both use `detsim-grammar`'s one parser.
fn check_scheduler(s: &LitStr) -> syn::Result<()> {
    match detsim_grammar::parse_scheduler(&s.value()) {
        Some(_) => Ok(()),
        None => Err(syn::Error::new_spanned(
            s,
            format!("expected {}", detsim_grammar::SCHEDULER_FORM),
        )),
    }
}

/// tokio's arguments, as the facade records them.
struct TokioArgs {
    krate: TokenStream,
    flavor: String,
    worker_threads: Option<u64>,
    start_paused: bool,
    name: Option<LitStr>,
}

/// `attribute`'s arguments; without a `flavor`, tokio's default: `multi_thread` for
/// `#[tokio::main]`, `current_thread` for `#[tokio::test]`.
fn tokio_args(args: TokenStream, attribute: &str) -> syn::Result<TokioArgs> {
    let default_flavor = match attribute {
        "#[tokio::main]" => "multi_thread",
        _ => "current_thread",
    };
    let mut parsed = TokioArgs {
        krate: quote!(::tokio),
        flavor: default_flavor.to_owned(),
        worker_threads: None,
        start_paused: false,
        name: None,
    };
    for (name, lit, span) in parse_args(args)? {
        match (name.as_str(), &lit) {
            ("flavor", Lit::Str(s)) => {
                let value = s.value();
                if !matches!(value.as_str(), "current_thread" | "multi_thread" | "local") {
                    return Err(syn::Error::new_spanned(
                        s,
                        "no such runtime flavor: expected \"current_thread\", \
                         \"multi_thread\" or \"local\"",
                    ));
                }
                parsed.flavor = value;
            }
            ("worker_threads", Lit::Int(n)) => {
                let n: u64 = n.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new(span, "`worker_threads` may not be 0"));
                }
                parsed.worker_threads = Some(n);
            }
            ("start_paused", Lit::Bool(b)) => parsed.start_paused = b.value,
            ("name", Lit::Str(s)) => parsed.name = Some(s.clone()),
            ("crate", Lit::Str(s)) => parsed.krate = s.parse::<syn::Path>()?.to_token_stream(),
            // tokio's unstable option: accepted, the simulation fails the run on any
            // unobserved panic anyway.
            ("unhandled_panic", Lit::Str(_)) => {}
            _ => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "unknown argument: {attribute} takes `flavor`, `worker_threads`, \
                         `start_paused`, `name` and `crate`"
                    ),
                ));
            }
        }
    }
    if parsed.worker_threads.is_some() && parsed.flavor == "current_thread" {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "the `worker_threads` option requires the `multi_thread` runtime flavor. Use \
             `#[tokio::test(flavor = \"multi_thread\")]`",
        ));
    }
    Ok(parsed)
}

/// The facade's `#[tokio::test]` under `--cfg detsim`.
pub(crate) fn tokio_test(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let item: ItemFn = syn::parse2(item)?;
    check_fn(&item, "#[tokio::test]", false)?;
    let TokioArgs {
        krate,
        flavor,
        worker_threads,
        start_paused,
        name,
    } = tokio_args(args, "#[tokio::test]")?;
    let worker_threads = match worker_threads {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let name = match name {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let body = body_closure(&item);
    Ok(test_fn(
        &item,
        quote! {
            #krate::__private::run_test(
                #krate::__private::TestConfig {
                    flavor: #flavor,
                    worker_threads: #worker_threads,
                    start_paused: #start_paused,
                    name: #name,
                },
                #body,
            );
        },
    ))
}

/// The facade's `#[tokio::main]` under `--cfg detsim`: as tokio's expansion, through
/// the facade's simulated `runtime::Builder`.
pub(crate) fn tokio_main(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let item: ItemFn = syn::parse2(item)?;
    check_fn(&item, "#[tokio::main]", true)?;
    let TokioArgs {
        krate,
        flavor,
        name,
        ..
    } = tokio_args(args, "#[tokio::main]")?;
    let builder = if flavor == "multi_thread" {
        quote!(new_multi_thread)
    } else {
        quote!(new_current_thread)
    };
    let name = name.map(|name| quote!(.name(#name)));
    let attrs = &item.attrs;
    let vis = &item.vis;
    let sig = {
        let mut sig = item.sig.clone();
        sig.asyncness = None;
        sig
    };
    let block = &item.block;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            let __detsim_body = async #block;
            #krate::runtime::Builder::#builder()
                #name
                .enable_all()
                .build()
                .expect("Failed building the Runtime")
                .block_on(__detsim_body)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The macro accepts a scheduler argument exactly when `detsim-grammar` parses it,
    /// the parser `detsim::Scheduler`'s `FromStr` and `DETSIM_SCHEDULER` use (see
    /// `detsim`'s `scheduler::tests`).
    #[test]
    fn the_scheduler_argument_is_checked_by_the_runtimes_parser() {
        let cases = detsim_grammar::SCHEDULER_SAMPLES;
        for &case in cases {
            let lit = LitStr::new(case, proc_macro2::Span::call_site());
            assert_eq!(
                check_scheduler(&lit).is_ok(),
                detsim_grammar::parse_scheduler(case).is_some(),
                "{case:?}"
            );
        }
        let error = check_scheduler(&LitStr::new("lifo", proc_macro2::Span::call_site()));
        assert!(error.unwrap_err().to_string().contains("`pct:<depth>`"));
    }
}
