use super::*;

/// Response `kind`: plain, or with a header of its own that CORS also sets.
fn response(kind: usize) -> Response<String> {
    let mut response = Response::new("{}".to_owned());
    let headers = response.headers_mut();
    match kind {
        0 => {}
        1 => {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        2 => {
            let value = HeaderValue::from_static("x-own");
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
        _ => {
            let value = HeaderValue::from_static("false");
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, value);
            headers.append(header::VARY, HeaderValue::from_static("origin"));
        }
    }
    response
}

/// Status and every header, in order.
fn seen(response: Response<String>) -> (u16, Vec<(String, Vec<u8>)>) {
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    (response.status().as_u16(), headers)
}

#[tokio::test]
async fn every_answer_is_what_tower_http_cors_alone_makes_of_it() {
    let configs: [&[&str]; 3] = [
        &["https://app.example"],
        &["https://a.example", "https://b.example"],
        &["*"],
    ];
    let origins = [
        None,
        Some("https://app.example"),
        Some("https://b.example"),
        Some("https://elsewhere.example"),
    ];
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::DELETE,
        Method::OPTIONS,
    ];
    for config in configs {
        let allowed: Vec<String> = config.iter().map(|o| (*o).to_owned()).collect();
        let ours = CorsLayer::new(rules(&allowed));
        assert!(ours.without_origin.is_some(), "tower-http answered at once");
        for origin in origins {
            for method in &methods {
                for preflight in [false, true] {
                    for kind in 0..4 {
                        let request = || {
                            let mut request = Request::builder().method(method).uri("/api/v1/x");
                            if let Some(origin) = origin {
                                request = request.header(header::ORIGIN, origin);
                            }
                            if preflight {
                                request = request
                                    .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PATCH")
                                    .header(
                                        header::ACCESS_CONTROL_REQUEST_HEADERS,
                                        "authorization",
                                    );
                            }
                            request.body(()).expect("a valid request")
                        };
                        let handler = tower::service_fn(move |_: Request<()>| {
                            futures::future::ready(Ok::<_, Infallible>(response(kind)))
                        });
                        let alone = rules(&allowed).layer(handler).oneshot(request());
                        let Ok(expected) = alone.await;
                        let Ok(got) = ours.layer(handler).oneshot(request()).await;
                        let (expected, got) = (seen(expected), seen(got));
                        assert_eq!(
                            got, expected,
                            "origins {config:?}, Origin {origin:?}, {method}, preflight {preflight}, response {kind}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn without_origin_tower_http_adds_vary_credentials_and_the_exposed_headers() {
    let added = added_without_origin(&rules(&["https://app.example".to_owned()]))
        .expect("tower-http answered at once");
    let names: Vec<&str> = added.keys().map(HeaderName::as_str).collect();
    assert_eq!(
        names,
        [
            "vary",
            "access-control-allow-credentials",
            "access-control-expose-headers"
        ]
    );
    let merged = {
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        merge(&mut headers, &added);
        headers
    };
    assert_eq!(merged.get_all(header::VARY).iter().count(), 2);
}
