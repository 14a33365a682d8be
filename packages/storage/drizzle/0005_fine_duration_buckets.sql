ALTER TABLE `metrics_client_hourly` ADD `duration_le_100us` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_client_hourly` ADD `duration_le_250us` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_client_hourly` ADD `duration_le_500us` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_client_hourly` ADD `duration_le_1ms` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_client_hourly` ADD `duration_le_2500us` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_hourly` ADD `duration_le_100us` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_hourly` ADD `duration_le_250us` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_hourly` ADD `duration_le_500us` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_hourly` ADD `duration_le_1ms` bigint unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `metrics_hourly` ADD `duration_le_2500us` bigint unsigned DEFAULT 0 NOT NULL;