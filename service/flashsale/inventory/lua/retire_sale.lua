-- retire_sale.lua: the first step of deleting a sale whose ledger was checked as exported: stop it selling,
-- but only if the ledger did not grow since that check (an order appended meanwhile is not exported yet).
--
-- KEYS[1] sale hash fs:{<sale>}:sale   KEYS[2] ledger fs:{<sale>}:orders   KEYS[3] holds fs:{<sale>}:holds
-- ARGV[1] the ledger length the caller saw when it found nothing left to export
--
-- Returns 1 when the sale hash and its holds are deleted (no purchase, hold or confirm can append to the ledger
-- any more; the caller deletes the rest), 0 when the ledger length differs (nothing changed), -1 for no sale.
-- Read by Administration.delete_sale (admin.py).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
if redis.call('XLEN', KEYS[2]) ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[3])
return 1
