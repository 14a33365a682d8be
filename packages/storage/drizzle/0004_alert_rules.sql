ALTER TABLE `bandwidth_alerts` MODIFY COLUMN `metric_value` double NOT NULL;--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` MODIFY COLUMN `threshold_value` double;--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD `rule` varchar(128) DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD `metric` enum('bandwidth','inbound','outbound','requests','errors');--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD `method` varchar(16);--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD `peak_value` double;--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD `held_until` datetime;--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD `open_key` varchar(191);--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD `notified` enum('none','opened','resolved') DEFAULT 'none' NOT NULL;--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD `notify_attempts` int unsigned DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD `next_notify_at` datetime;--> statement-breakpoint
ALTER TABLE `bandwidth_alerts` ADD CONSTRAINT `uq_alerts_open_key` UNIQUE(`open_key`);--> statement-breakpoint
CREATE INDEX `idx_alerts_notified` ON `bandwidth_alerts` (`notified`);