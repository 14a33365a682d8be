CREATE TABLE `bandwidth_alerts` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`alert_type` enum('threshold','spike','anomaly') NOT NULL,
	`severity` enum('low','medium','high','critical') NOT NULL,
	`message` text NOT NULL,
	`metric_value` bigint NOT NULL,
	`threshold_value` bigint,
	`service` varchar(128),
	`endpoint` varchar(255),
	`protocol` enum('http','webrtc'),
	`created_at` timestamp NOT NULL DEFAULT (now()),
	`resolved_at` timestamp,
	CONSTRAINT `bandwidth_alerts_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `metrics_batch_ledger` (
	`batch_id` varchar(191) NOT NULL,
	`flush_id` varchar(64) NOT NULL,
	`stream_entry_id` varchar(64) NOT NULL,
	`service` varchar(128) NOT NULL DEFAULT '',
	`points` int unsigned NOT NULL DEFAULT 0,
	`applied_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `metrics_batch_ledger_batch_id` PRIMARY KEY(`batch_id`)
);
--> statement-breakpoint
CREATE TABLE `metrics_daily` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`service` varchar(128) NOT NULL DEFAULT '',
	`date` date NOT NULL,
	`protocol` enum('http','webrtc') NOT NULL DEFAULT 'http',
	`total_bandwidth` bigint unsigned NOT NULL DEFAULT 0,
	`total_inbound` bigint unsigned NOT NULL DEFAULT 0,
	`total_outbound` bigint unsigned NOT NULL DEFAULT 0,
	`total_requests` bigint unsigned NOT NULL DEFAULT 0,
	`error_count` bigint unsigned NOT NULL DEFAULT 0,
	`duration_sum_ms` double NOT NULL DEFAULT 0,
	`avg_response_time` decimal(14,3) GENERATED ALWAYS AS ((if(`total_requests` > 0, `duration_sum_ms` / `total_requests`, 0))) STORED,
	`peak_bandwidth` bigint unsigned NOT NULL DEFAULT 0,
	`peak_hour` datetime,
	`unique_users` int unsigned NOT NULL DEFAULT 0,
	`created_at` timestamp NOT NULL DEFAULT (now()),
	`updated_at` timestamp NOT NULL DEFAULT (now()) ON UPDATE CURRENT_TIMESTAMP,
	CONSTRAINT `metrics_daily_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_daily_series` UNIQUE(`service`,`date`,`protocol`)
);
--> statement-breakpoint
CREATE TABLE `metrics_hourly` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`service` varchar(128) NOT NULL DEFAULT '',
	`endpoint` varchar(255) NOT NULL,
	`method` varchar(16) NOT NULL,
	`protocol` enum('http','webrtc') NOT NULL DEFAULT 'http',
	`hour_start` datetime NOT NULL,
	`total_requests` bigint unsigned NOT NULL DEFAULT 0,
	`total_inbound` bigint unsigned NOT NULL DEFAULT 0,
	`total_outbound` bigint unsigned NOT NULL DEFAULT 0,
	`duration_sum_ms` double NOT NULL DEFAULT 0,
	`avg_response_time` decimal(14,3) GENERATED ALWAYS AS ((if(`total_requests` > 0, `duration_sum_ms` / `total_requests`, 0))) STORED,
	`max_response_time` decimal(14,3) NOT NULL DEFAULT 0,
	`min_response_time` decimal(14,3),
	`error_count` bigint unsigned NOT NULL DEFAULT 0,
	`success_count` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_5ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_10ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_25ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_50ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_75ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_100ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_250ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_500ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_750ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_1s` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_2500ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_5s` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_7500ms` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_10s` bigint unsigned NOT NULL DEFAULT 0,
	`duration_le_inf` bigint unsigned NOT NULL DEFAULT 0,
	`created_at` timestamp NOT NULL DEFAULT (now()),
	`updated_at` timestamp NOT NULL DEFAULT (now()) ON UPDATE CURRENT_TIMESTAMP,
	CONSTRAINT `metrics_hourly_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_hourly_series` UNIQUE(`service`,`endpoint`,`method`,`protocol`,`hour_start`)
);
--> statement-breakpoint
CREATE INDEX `idx_alerts_created` ON `bandwidth_alerts` (`created_at`);--> statement-breakpoint
CREATE INDEX `idx_alerts_severity` ON `bandwidth_alerts` (`severity`);--> statement-breakpoint
CREATE INDEX `idx_alerts_protocol` ON `bandwidth_alerts` (`protocol`);--> statement-breakpoint
CREATE INDEX `idx_ledger_flush` ON `metrics_batch_ledger` (`flush_id`);--> statement-breakpoint
CREATE INDEX `idx_ledger_applied_at` ON `metrics_batch_ledger` (`applied_at`);--> statement-breakpoint
CREATE INDEX `idx_daily_date` ON `metrics_daily` (`date`);--> statement-breakpoint
CREATE INDEX `idx_hourly_hour_start` ON `metrics_hourly` (`hour_start`);--> statement-breakpoint
CREATE INDEX `idx_hourly_protocol` ON `metrics_hourly` (`protocol`);