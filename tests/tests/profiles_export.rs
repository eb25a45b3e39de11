//! `bedrock-meter profiles export`: every application profile, paged, with its tags, written in the
//! file form that `--profiles` reads — through the real aws-sdk-bedrock client against the local
//! Bedrock stub (moto has no inference profiles).

use bedrock_meter_core::attribution::model_id::Pool;
use bedrock_meter_core::attribution::profiles::{ProfileDirectory, ProfileMap};
use bedrock_meter_core::attribution::resolution::{resolve, AttributionConfig};
use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::ports::profiles::ProfileSource;
use bedrock_meter_integration_tests::bedrock_stub::{BedrockStub, Failure, StubProfile};
use bedrock_meter_integration_tests::sdk_config_for;

#[tokio::test]
async fn export_pages_through_every_profile_with_tags() {
    let stub = BedrockStub::start();
    for i in 0..5 {
        stub.add_profile(StubProfile::new(
            &format!("prof{i}"),
            &format!("app-{i}"),
            "amazon.nova-lite-v1:0",
            &[
                ("app", &format!("app-{i}")),
                ("team", if i % 2 == 0 { "even" } else { "odd" }),
            ],
        ));
    }
    stub.set_page_size(2);
    let bedrock = BedrockProfiles::new(&sdk_config_for(&stub.endpoint()).await);
    let profiles = bedrock.list_application_profiles().await.expect("export");
    assert_eq!(profiles.len(), 5, "all pages read");
    let lists: Vec<String> = stub
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /inference-profiles?"))
        .collect();
    assert_eq!(lists.len(), 3, "5 profiles in pages of 2: {lists:?}");
    assert!(
        lists.iter().all(|r| r.contains("type=APPLICATION")),
        "{lists:?}"
    );

    // The file it writes is what --profiles reads, and attribution follows the tags.
    let map = ProfileMap::from_json(&ProfileMap::new(profiles).to_json()).expect("file form");
    assert_eq!(map.len(), 5);
    let arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/prof3";
    let p = map.lookup(arn).expect("exported");
    assert_eq!(p.pool(), Pool::InRegion);
    let r = resolve(arn, &map, &AttributionConfig::default());
    assert_eq!(
        (r.app.as_str(), r.team.as_str(), r.model.as_str()),
        ("app-3", "odd", "amazon.nova-lite-v1:0")
    );
}

#[tokio::test]
async fn a_failing_tag_lookup_fails_the_export_loudly() {
    let stub = BedrockStub::start();
    stub.add_profile(StubProfile::new(
        "p1",
        "one",
        "amazon.nova-lite-v1:0",
        &[("app", "one"), ("team", "t")],
    ));
    stub.fail_all(Some(Failure::AccessDenied));
    let bedrock = BedrockProfiles::new(&sdk_config_for(&stub.endpoint()).await);
    let err = bedrock
        .list_application_profiles()
        .await
        .expect_err("access denied is an error, not an empty list");
    assert_eq!(err.code.as_deref(), Some("AccessDeniedException"), "{err}");
}
