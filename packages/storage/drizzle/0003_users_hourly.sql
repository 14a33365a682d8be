CREATE TABLE `metrics_users_hourly` (
	`service` varchar(128) NOT NULL,
	`hour_start` datetime NOT NULL,
	`user_id` varchar(191) NOT NULL,
	`requests` bigint unsigned NOT NULL DEFAULT 0,
	`total_inbound` bigint unsigned NOT NULL DEFAULT 0,
	`total_outbound` bigint unsigned NOT NULL DEFAULT 0,
	CONSTRAINT `metrics_users_hourly_service_hour_start_user_id_pk` PRIMARY KEY(`service`,`hour_start`,`user_id`)
);
--> statement-breakpoint
CREATE INDEX `idx_users_hour_start` ON `metrics_users_hourly` (`hour_start`);