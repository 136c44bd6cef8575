-- eligibilitylib.lua: a sale's eligibility rules judged against a buyer's verified facts (prepended to the
-- purchase, hold and queue join scripts). identity/claims.py writes both strings; only this file reads them.
--
-- rules (the sale's `eligibility` field; absent or "" for a sale open to every signed-in buyer):
--   "<email_verified 0|1>\t<phone_number_verified 0|1>\t<group>\t<account_created_before ms>\t<until ms>"
--   an empty part is no rule; `until`: the rules apply before that instant only (a presale window)
-- facts (a script argument, from the buyer's token):
--   "<email_verified 0|1>\t<phone_number_verified 0|1>\t<created ms>\t,<group>,<group>,"
--
-- ineligible(rules, facts, now_ms) returns nil when the buyer may go on, else the name of the first rule that
-- failed: email_verified, phone_number_verified, group, account_created_before.
local function ineligible(rules, facts, now_ms)
  if not rules or rules == '' then
    return nil
  end
  local need_email, need_phone, group, before, till =
    string.match(rules, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$')
  if till ~= '' and now_ms >= tonumber(till) then
    return nil
  end
  local email, phone, created, groups = string.match(facts or '', '^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
  if not email then
    email, phone, created, groups = '0', '0', '', ','
  end
  if need_email == '1' and email ~= '1' then
    return 'email_verified'
  end
  if need_phone == '1' and phone ~= '1' then
    return 'phone_number_verified'
  end
  if group ~= '' and not string.find(groups, ',' .. group .. ',', 1, true) then
    return 'group'
  end
  if before ~= '' and (created == '' or tonumber(created) >= tonumber(before)) then
    return 'account_created_before'
  end
  return nil
end
-- ---- end of eligibilitylib.lua ----
