-- Seeds :patients patients for tenant :'tenant' (the :k-th document tenant), as the superuser
-- (which bypasses row-level security). Ids are md5('p' k-n)::uuid; family names repeat every 50
-- patients so the family_name filter finds a page. Created times spread over the last minutes.
-- PHI columns and blind indexes in the plaintext form (0x00 || text), as with PHI_ENCRYPTION off.
insert into patients (id, tenant_id, mrn, given_name, family_name, birth_date, sex, contact,
                      mrn_bidx, family_name_bidx, birth_date_bidx, created_at, updated_at)
select md5('p' || :'k' || '-' || n)::uuid,
       :'tenant'::uuid,
       '\x00'::bytea || convert_to('MRN-' || n, 'UTF8'),
       '\x00'::bytea || convert_to('Given' || n, 'UTF8'),
       '\x00'::bytea || convert_to('Family' || (n % 50), 'UTF8'),
       '\x00'::bytea || convert_to(to_char(date '1950-01-01' + (n * 37) % 20000, 'YYYY-MM-DD'), 'UTF8'),
       (array['female', 'male', 'other', 'unknown'])[1 + n % 4],
       '\x00'::bytea || convert_to(jsonb_build_object('phone', '+1 555 ' || lpad((n % 10000)::text, 4, '0'))::text, 'UTF8'),
       '\x00'::bytea || convert_to('MRN-' || n, 'UTF8'),
       '\x00'::bytea || convert_to(lower('Family' || (n % 50)), 'UTF8'),
       '\x00'::bytea || convert_to(to_char(date '1950-01-01' + (n * 37) % 20000, 'YYYY-MM-DD'), 'UTF8'),
       now() - make_interval(mins => n),
       now() - make_interval(mins => n)
from generate_series(1, :patients) as n;
