//! A database whose events were sealed the old way (V7–V14: chain columns on each event, a head
//! per tenant) migrated to V15 and sealed on the new way: one chain across both forms.

use haven_db::audit::{self, AuditFilter};
use haven_db::audit_chain::{self, LinkProblem};
use haven_db::ids::AuditEventId;
use haven_db::page::PageLimit;
use haven_db::tenant::TenantTx;
use haven_tests::TestDatabase;
use secrecy::SecretString;

use super::tamper;
use crate::rls::fixtures::{migrate, pool, record, tenant};

/// The sealer as it was before V15, written independently in SQL (PostgreSQL's own sha256 over
/// the documented canonical encoding): it fills each unsealed event's chain columns in
/// (occurred_at, id) order and moves the tenant's head. Like that sealer, it leaves
/// `client_request_id` (V14) out of the hash, although the recorded events carry one.
const OLD_SEALER: &str = r#"
create function pg_temp.txt(t text) returns bytea language sql immutable as
  $$ select int4send(octet_length(t)) || convert_to(t, 'UTF8') $$;
create function pg_temp.opt(b bytea) returns bytea language sql immutable as
  $$ select case when b is null then '\x00'::bytea else '\x01'::bytea || b end $$;
create function pg_temp.canonical(e audit_events, n bigint) returns bytea language sql stable as $$
  select uuid_send(e.id) || uuid_send(e.tenant_id) || int8send(n)
    || int8send((extract(epoch from e.occurred_at) * 1000000)::bigint)
    || pg_temp.opt(uuid_send(e.actor_user_id)) || pg_temp.opt(pg_temp.txt(e.actor_subject))
    || pg_temp.txt(e.action) || pg_temp.txt(e.resource_type)
    || pg_temp.opt(pg_temp.txt(e.resource_id)) || pg_temp.txt(e.outcome)
    || pg_temp.opt(pg_temp.txt(e.request_id)) || pg_temp.opt(pg_temp.txt(host(e.client_ip)))
    || pg_temp.opt(pg_temp.txt(e.user_agent))
    || pg_temp.opt(int4send(cardinality(e.changed_fields)) || coalesce((
         select string_agg(pg_temp.txt(f), ''::bytea order by o)
         from unnest(e.changed_fields) with ordinality as u(f, o)), ''::bytea))
    || case when e.emergency then '\x01'::bytea else '\x00'::bytea end
$$;
do $$
declare
  e audit_events;
  n bigint;
  prev bytea;
  h bytea;
begin
  for e in select * from audit_events where sealed_at is null order by tenant_id, occurred_at, id
  loop
    insert into audit_chain_heads (tenant_id) values (e.tenant_id) on conflict do nothing;
    select last_seq + 1, last_hash into n, prev from audit_chain_heads where tenant_id = e.tenant_id;
    h := sha256(convert_to('haven.audit.v1', 'UTF8') || '\x00'::bytea || prev
                || pg_temp.canonical(e, n));
    update audit_events set seq = n, prev_hash = prev, hash = h, sealed_at = now()
      where id = e.id;
    update audit_chain_heads set last_seq = n, last_hash = h where tenant_id = e.tenant_id;
  end loop;
end
$$;
"#;

#[tokio::test]
async fn one_chain_runs_across_events_sealed_the_old_way_and_the_new_way() {
    let db = TestDatabase::create().await;
    let url = SecretString::from(db.url.clone());
    haven_db::migrate::run_up_to(&url, std::time::Duration::from_secs(10), 14)
        .await
        .expect("migrations up to V14");
    let pool = pool(&db.url, 4);
    let (a, b) = (tenant(&pool, "org-a").await, tenant(&pool, "org-b").await);
    let (mut ids, mut b_ids): (Vec<AuditEventId>, Vec<AuditEventId>) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        ids.push(record(&pool, a, "document.read").await);
        b_ids.push(record(&pool, b, "document.read").await);
    }
    let mut conn = db.connect().await;
    sqlx::raw_sql(OLD_SEALER).execute(&mut conn).await.unwrap();
    // Recorded before the upgrade, sealed after it.
    ids.push(record(&pool, a, "document.update").await);

    migrate(&db.url).await;
    for _ in 0..3 {
        ids.push(record(&pool, a, "document.read").await);
    }
    assert_eq!(audit_chain::seal_pending(&pool, 2).await.unwrap(), 4);

    let report = audit_chain::verify(&pool, None).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, 12);
    let mut tx = TenantTx::begin(&pool, a).await.unwrap();
    let page = audit::list(&mut tx, &AuditFilter::default(), None, PageLimit::MAX)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut by_seq: Vec<_> = page.items.iter().map(|e| (e.seq.unwrap(), e.id)).collect();
    by_seq.sort();
    assert_eq!(
        by_seq.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<i64>>()
    );
    assert_eq!(by_seq.iter().map(|s| s.1).collect::<Vec<_>>(), ids);

    // A change on either side of the upgrade is found at exactly that event.
    let change = |id: AuditEventId| {
        format!("update audit_events set action = 'document.list' where id = '{id}'")
    };
    for (at, seq) in [(6, 7), (2, 3)] {
        tamper(&mut conn, &change(ids[at])).await;
        let broken = audit_chain::verify(&pool, Some(a))
            .await
            .unwrap()
            .first_broken
            .unwrap();
        assert_eq!(
            (broken.seq, broken.event_id, broken.problem),
            (seq, Some(ids[at]), LinkProblem::HashMismatch)
        );
    }
    // Cutting the old form's last event off is found too (tenant b: only old-form events).
    assert!(
        audit_chain::verify(&pool, Some(b))
            .await
            .unwrap()
            .is_intact()
    );
    tamper(
        &mut conn,
        &format!("delete from audit_events where id = '{}'", b_ids[3]),
    )
    .await;
    let broken = audit_chain::verify(&pool, Some(b))
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!(
        (broken.seq, broken.event_id, broken.problem),
        (4, Some(b_ids[2]), LinkProblem::HeadMismatch)
    );
}
