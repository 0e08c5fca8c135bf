-- Documents own their content: an object in the storage bucket under a key the server builds
-- (tenants/<tenant>/documents/<document>), uploaded by the client with a presigned PUT and
-- checked on completion. Soft-deleted documents keep their object until `haven documents purge`.
alter table documents
    -- Base64 SHA-256 the client declared for the upload (S3 verifies the body against it).
    add column content_sha256 text check (content_sha256 ~ '^[A-Za-z0-9+/]{43}=$'),
    -- When completion found the object as promised; downloads need it.
    add column content_verified_at timestamptz,
    -- Why completion refused the object (the object was deleted then).
    add column upload_failure text check (upload_failure in
        ('size_mismatch', 'content_type_mismatch', 'checksum_mismatch', 'not_encrypted',
         'wrong_kms_key')),
    -- When the purge deleted the object of this soft-deleted document.
    add column purged_at timestamptz,
    add constraint documents_purged_after_delete check (purged_at is null or deleted_at is not null);

-- The purge's claim query: soft-deleted documents with content not yet purged, oldest first.
create index documents_purgeable_idx on documents (deleted_at)
    where deleted_at is not null and purged_at is null and content_sha256 is not null;
