-- A neutralised copy of a database must never remind real debtors.
UPDATE ir_cron
   SET active = FALSE
 WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = 'receivable_dunning' AND model = 'ir.cron');
