-- Seeds :patients patients for tenant :'tenant' (the :k-th document tenant), as the superuser
-- (which bypasses row-level security). Ids are md5('p' k-n)::uuid; family names repeat every 50
-- patients so the family_name filter finds a page. Created times spread over the last minutes.
insert into patients (id, tenant_id, mrn, given_name, family_name, birth_date, sex, contact,
                      created_at, updated_at)
select md5('p' || :'k' || '-' || n)::uuid,
       :'tenant'::uuid,
       'MRN-' || n,
       'Given' || n,
       'Family' || (n % 50),
       date '1950-01-01' + (n * 37) % 20000,
       (array['female', 'male', 'other', 'unknown'])[1 + n % 4],
       jsonb_build_object('phone', '+1 555 ' || lpad((n % 10000)::text, 4, '0')),
       now() - make_interval(mins => n),
       now() - make_interval(mins => n)
from generate_series(1, :patients) as n;
