-- B15: every Salesforce id is stored in its 18-character form, so equality is plain equality
-- (a user registered with the 15-character id of Salesforce's URLs must match the 18-character
-- OwnerId the API returns). The services write only that form since this version; this converts
-- the rows written before.

-- Salesforce's 18-character form of an id: the 15 characters, then one checksum character per
-- 5-character chunk, indexing 'A'..'Z','0'..'5' by the bit mask of the chunk's upper-case
-- letters. The same rule as sync_core::salesforce_id18: a 15-character id gains its suffix; an
-- 18-character id whose suffix matches (in either case) comes back with it in upper case.
-- Anything else (another length, another character, a disagreeing suffix) is returned
-- unchanged: a migration cannot ask which record was meant, and the services report such a row
-- when they read it instead of comparing it.
CREATE OR REPLACE FUNCTION salesforce_id18(id text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    alphabet constant text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
    suffix text := '';
    mask integer;
    code integer;
BEGIN
    IF length(id) NOT IN (15, 18) OR id !~ '^[A-Za-z0-9]+$' THEN
        RETURN id;
    END IF;
    FOR chunk IN 0..2 LOOP
        mask := 0;
        FOR i IN 0..4 LOOP
            -- By code point, not by collation: only ASCII 'A'..'Z' count as upper case.
            code := ascii(substr(id, chunk * 5 + i + 1, 1));
            IF code BETWEEN 65 AND 90 THEN
                mask := mask | (1 << i);
            END IF;
        END LOOP;
        suffix := suffix || substr(alphabet, mask + 1, 1);
    END LOOP;
    IF length(id) = 15 THEN
        RETURN id || suffix;
    END IF;
    IF upper(substr(id, 16, 3)) = suffix THEN
        RETURN substr(id, 1, 15) || suffix;
    END IF;
    RETURN id;
END
$$;

UPDATE users
   SET salesforce_user_id = salesforce_id18(salesforce_user_id)
 WHERE salesforce_user_id IS DISTINCT FROM salesforce_id18(salesforce_user_id);

UPDATE contact_settings
   SET list_view_id = salesforce_id18(list_view_id)
 WHERE list_view_id IS DISTINCT FROM salesforce_id18(list_view_id);

-- '' means "no Salesforce org id yet" and stays so (the function returns it unchanged).
UPDATE orgs
   SET salesforce_org_id = salesforce_id18(salesforce_org_id)
 WHERE salesforce_org_id IS DISTINCT FROM salesforce_id18(salesforce_org_id);

-- The link store: the indexed column and the same id inside the link document. Links were made
-- from the API's answers (already 18 characters), so this is a safeguard; a row whose converted
-- id another link of the same user already holds is left alone rather than breaking C4's
-- unique index (the services then report it instead of guessing which link is right).
UPDATE contact_links l
   SET salesforce_id = salesforce_id18(l.salesforce_id),
       link = jsonb_set(l.link, '{salesforce_id}', to_jsonb(salesforce_id18(l.salesforce_id)))
 WHERE l.salesforce_id IS DISTINCT FROM salesforce_id18(l.salesforce_id)
   AND NOT EXISTS (SELECT 1 FROM contact_links o
                    WHERE o.user_id = l.user_id
                      AND o.salesforce_id = salesforce_id18(l.salesforce_id));
