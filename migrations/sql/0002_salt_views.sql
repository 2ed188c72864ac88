DROP VIEW "public"."salt_events";--> statement-breakpoint
DROP VIEW "public"."jids";--> statement-breakpoint
DROP VIEW "public"."salt_returns";--> statement-breakpoint
CREATE VIEW "public"."salt_events" AS (select "events"."seq"::bigint as id,
    (case "events"."type"
      when 'job.new' then 'salt/job/' || "events"."jid" || '/new'
      when 'job.ret' then 'salt/job/' || "events"."jid" || '/ret/' || "events"."minion"
      when 'job.done' then 'salt/job/' || "events"."jid" || '/done'
      when 'minion.start' then 'salt/minion/' || "events"."minion" || '/start'
      when 'minion.grains' then 'salt/minion/' || "events"."minion" || '/grains'
      when 'key' then 'salt/key'
      when 'audit' then 'natrium/audit/' || coalesce("events"."body"->>'kind', '')
      else "events"."subject" end)::varchar(255) as tag,
    "events"."body" as data, "events"."ts" as alter_time, coalesce("events"."body"->>'master', '')::varchar(255) as master_id
    from "events");--> statement-breakpoint
CREATE VIEW "public"."jids" AS (select "jobs"."jid"::varchar(255) as jid,
    jsonb_build_object('jid', "jobs"."jid", 'fun', "jobs"."fun",
      'arg', case when "jobs"."kwarg" = '{}'::jsonb then "jobs"."arg"
                  else "jobs"."arg" || jsonb_build_array("jobs"."kwarg" || '{"__kwarg__": true}'::jsonb) end,
      'tgt', "jobs"."tgt", 'tgt_type', "jobs"."tgt_type", 'user', "jobs"."user",
      'ret', to_jsonb(array_to_string("jobs"."ret", ',')), 'Minions', to_jsonb("jobs"."expected"), 'master', "jobs"."master") as load
    from "jobs");--> statement-breakpoint
CREATE VIEW "public"."salt_returns" AS (select r.fun::varchar(50) as fun, r.jid::varchar(255) as jid, coalesce(r.return, 'null'::jsonb) as return,
    r.minion::varchar(255) as id, (case when r.success then 'True' else 'False' end)::varchar(10) as success,
    e.body as full_ret, r."end" as alter_time
    from "job_returns" r join "events" e on e.seq = r.seq);