//! The seeded `select!`: tokio's syntax (`biased;`, patterns, `, if` preconditions,
//! `else`), with the branch polled first chosen by the run.
//!
//! The expansion, for branches `p_i = f_i, if c_i => h_i`:
//! 1. evaluate every precondition `c_i` in source order; a false one disables branch `i`;
//! 2. evaluate every future `f_i` in source order (disabled ones too, as tokio does) and
//!    pin them on the stack;
//! 3. at each poll: `Pending` at once if the task's coop budget is spent (tokio's
//!    `poll_budget_available`); unless `biased`, decide (`DecisionKind::Select`) which enabled branch
//!    goes first, then poll the enabled branches round from there; the first one ready
//!    whose output matches `p_i` wins; one whose output does not match is disabled;
//! 4. drop the futures, then run the winner's handler `h_i` (so it may use what the
//!    futures borrowed), or `else` when every branch is disabled.
//!
//! A `select!` with only an `else` branch is that branch's handler (as tokio's is).
//!
//! No `unsafe` in the expansion: each future is pinned with `core::pin::pin!`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::visit_mut::VisitMut;
use syn::{Expr, Pat, Token, braced, parenthesized};

struct Branch {
    pat: Pat,
    future: Expr,
    condition: Option<Expr>,
    handler: Expr,
}

struct Select {
    krate: TokenStream,
    biased: bool,
    branches: Vec<Branch>,
    otherwise: Option<Expr>,
}

/// A handler: a block (no comma needed after it) or an expression followed by a comma
/// or the end, as in a `match` arm.
fn parse_handler(input: ParseStream<'_>) -> syn::Result<Expr> {
    if input.peek(syn::token::Brace) {
        let content;
        let brace = braced!(content in input);
        let stmts = content.call(syn::Block::parse_within)?;
        let _ = input.parse::<Option<Token![,]>>()?;
        return Ok(Expr::Block(syn::ExprBlock {
            attrs: Vec::new(),
            label: None,
            block: syn::Block {
                brace_token: brace,
                stmts,
            },
        }));
    }
    let expr: Expr = input.parse()?;
    if !input.is_empty() {
        input.parse::<Token![,]>()?;
    }
    Ok(expr)
}

/// `biased;`, if the input starts with it.
fn parse_biased(input: ParseStream<'_>) -> syn::Result<bool> {
    if !(input.peek(syn::Ident) && input.peek2(Token![;])) {
        return Ok(false);
    }
    let ident: syn::Ident = input.parse()?;
    if ident != "biased" {
        return Err(syn::Error::new(
            ident.span(),
            "expected `biased;` or a branch",
        ));
    }
    input.parse::<Token![;]>()?;
    Ok(true)
}

impl Parse for Branch {
    /// `pattern = future[, if condition] => handler`
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let pat = Pat::parse_multi_with_leading_vert(input)?;
        input.parse::<Token![=]>()?;
        let future: Expr = input.parse()?;
        let condition = if input.peek(Token![,]) && input.peek2(Token![if]) {
            input.parse::<Token![,]>()?;
            input.parse::<Token![if]>()?;
            Some(input.parse::<Expr>()?)
        } else {
            None
        };
        input.parse::<Token![=>]>()?;
        let handler = parse_handler(input)?;
        Ok(Branch {
            pat,
            future,
            condition,
            handler,
        })
    }
}

impl Parse for Select {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let krate_tokens;
        parenthesized!(krate_tokens in input);
        let krate: TokenStream = krate_tokens.parse()?;
        let biased = parse_biased(input)?;
        let mut branches = Vec::new();
        let mut otherwise = None;
        while !input.is_empty() {
            if input.peek(Token![else]) {
                let token: Token![else] = input.parse()?;
                input.parse::<Token![=>]>()?;
                if otherwise.is_some() {
                    return Err(syn::Error::new(
                        token.span,
                        "select! has two `else` branches",
                    ));
                }
                otherwise = Some(parse_handler(input)?);
                continue;
            }
            branches.push(input.parse()?);
        }
        if branches.is_empty() && otherwise.is_none() {
            return Err(syn::Error::new(
                Span::call_site(),
                "select! needs at least one branch",
            ));
        }
        Ok(Select {
            krate,
            biased,
            branches,
            otherwise,
        })
    }
}

/// Removes `mut`, `ref` and `ref mut` from bindings: the pattern then tests an output
/// through a shared reference (default binding modes) without moving it.
struct StripBindingModes;

impl VisitMut for StripBindingModes {
    fn visit_pat_ident_mut(&mut self, pat: &mut syn::PatIdent) {
        pat.by_ref = None;
        pat.mutability = None;
        syn::visit_mut::visit_pat_ident_mut(self, pat);
    }
}

/// Step 3 for branch `i`: poll its future; if ready, disable the branch, and return
/// its output if it matches the pattern.
fn poll_arm(i: usize, branch: &Branch, future: &syn::Ident, variant: &syn::Ident) -> TokenStream {
    let mut check = branch.pat.clone();
    StripBindingModes.visit_pat_mut(&mut check);
    quote! {
        #i => {
            // A `match`, not an `if let`: the output's type may stay unknown until the
            // end of type checking (a never-ready future of `poll_fn(|_| panic!())`),
            // which an `if let` pattern does not allow.
            let __detsim_output = match ::core::future::Future::poll(#future.as_mut(), __detsim_cx) {
                ::core::task::Poll::Ready(output) => output,
                ::core::task::Poll::Pending => continue,
            };
            __detsim_disabled[#i] = true;
            #[allow(unused_variables, unreachable_patterns, clippy::redundant_pattern_matching)]
            let __detsim_matches = match &__detsim_output {
                #check => true,
                _ => false,
            };
            if __detsim_matches {
                return ::core::task::Poll::Ready(
                    __DetsimSelectOut::#variant(__detsim_output),
                );
            }
        }
    }
}

/// Step 3, one poll of the select: the first enabled branch to try is `start` (an
/// index among the enabled branches only), then the enabled branches round from it.
fn poll_body(
    krate: &TokenStream,
    count: usize,
    start: &TokenStream,
    poll_arms: &[TokenStream],
) -> TokenStream {
    quote! {
        // tokio's: nothing is polled once the task's coop budget is spent.
        if #krate::__private::poll_budget_available(__detsim_cx).is_pending() {
            return ::core::task::Poll::Pending;
        }
        let __detsim_enabled = __detsim_disabled.iter().filter(|d| !**d).count();
        if __detsim_enabled == 0 {
            return ::core::task::Poll::Ready(__DetsimSelectOut::Disabled);
        }
        // The chosen start counts enabled branches only.
        let mut __detsim_skip: usize = #start;
        let mut __detsim_first = 0;
        for (__detsim_i, __detsim_off) in __detsim_disabled.iter().enumerate() {
            if !*__detsim_off {
                if __detsim_skip == 0 {
                    __detsim_first = __detsim_i;
                    break;
                }
                __detsim_skip -= 1;
            }
        }
        for __detsim_k in 0..#count {
            #[allow(clippy::modulo_one)]
            let __detsim_branch = (__detsim_first + __detsim_k) % #count;
            if __detsim_disabled[__detsim_branch] {
                continue;
            }
            match __detsim_branch {
                #(#poll_arms)*
                _ => ::core::unreachable!(),
            }
        }
        if __detsim_disabled.iter().all(|d| *d) {
            ::core::task::Poll::Ready(__DetsimSelectOut::Disabled)
        } else {
            ::core::task::Poll::Pending
        }
    }
}

/// Steps 1 and 2: the preconditions, which disable branches, then every future pinned
/// under its name in `futures`.
fn prelude(branches: &[Branch], futures: &[syn::Ident]) -> (TokenStream, TokenStream) {
    let preconditions = branches.iter().enumerate().filter_map(|(i, b)| {
        b.condition.as_ref().map(|c| {
            quote! {
                if !(#c) {
                    __detsim_disabled[#i] = true;
                }
            }
        })
    });
    // One `let` for all the futures, as tokio's expansion has: a temporary borrowed in
    // a branch's future (`&mut ready(())`) lives as long as the `select!`.
    let exprs = branches.iter().map(|b| &b.future);
    let pin_futures = quote! {
        let (#(#futures,)*) = (#(#exprs,)*);
        #(
            let mut #futures = ::core::pin::pin!(
                ::core::future::IntoFuture::into_future(#futures)
            );
        )*
    };
    (quote!(#(#preconditions)*), pin_futures)
}

/// `count` identifiers `{prefix}{i}`.
fn numbered(prefix: &str, count: usize) -> Vec<syn::Ident> {
    (0..count)
        .map(|i| format_ident!("{}{}", prefix, i))
        .collect()
}

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let Select {
        krate,
        biased,
        branches,
        otherwise,
    } = syn::parse2(input)?;
    if branches.is_empty() {
        // tokio's else-only form: the `else` handler, with nothing to wait for.
        return Ok(quote!({ #otherwise }));
    }
    let count = branches.len();
    let variants = numbered("B", count);
    let generics = numbered("__DetsimT", count);
    let futures = numbered("__detsim_future_", count);

    let (preconditions, pin_futures) = prelude(&branches, &futures);
    let poll_arms: Vec<TokenStream> = (0..count)
        .map(|i| poll_arm(i, &branches[i], &futures[i], &variants[i]))
        .collect();
    let start = if biased {
        quote!(0usize)
    } else {
        quote!(#krate::__private::select_start(__detsim_enabled))
    };
    let poll_body = poll_body(&krate, count, &start, &poll_arms);
    let handler_arms = branches.iter().zip(&variants).map(|(b, variant)| {
        let (pat, handler) = (&b.pat, &b.handler);
        quote!(__DetsimSelectOut::#variant(#pat) => #handler,)
    });
    let otherwise = match otherwise {
        Some(handler) => quote!(#handler),
        None => quote! {
            ::core::panic!("all branches are disabled and there is no else branch")
        },
    };

    Ok(quote! {{
        #[allow(non_camel_case_types, clippy::enum_variant_names)]
        enum __DetsimSelectOut<#(#generics),*> {
            #(#variants(#generics),)*
            Disabled,
        }
        let mut __detsim_disabled = [false; #count];
        #preconditions
        #[allow(unused_mut)]
        let mut __detsim_out = {
            #pin_futures
            ::core::future::poll_fn(|__detsim_cx| { #poll_body }).await
        };
        #[allow(unreachable_patterns, unreachable_code)]
        match __detsim_out {
            #(#handler_arms)*
            __DetsimSelectOut::Disabled => #otherwise,
            _ => ::core::unreachable!("select!: the pattern matched when it was polled"),
        }
    }})
}
