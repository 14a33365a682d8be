ALTER TABLE `metrics_daily` ADD `total_inbound_wire` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_daily` ADD `total_outbound_wire` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_hourly` ADD `total_inbound_wire` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_hourly` ADD `total_outbound_wire` bigint unsigned DEFAULT 0 NOT NULL;