-- AlterTable: existing users start at version 1.
ALTER TABLE "users" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 1;

-- CreateTable
CREATE TABLE "idempotency_keys" (
    "caller" VARCHAR(64) NOT NULL,
    "key" VARCHAR(255) NOT NULL,
    "method" VARCHAR(255) NOT NULL,
    "params_digest" BYTEA NOT NULL,
    "result" JSON NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("caller","key")
);

-- CreateIndex
CREATE INDEX "idempotency_keys_created_at_idx" ON "idempotency_keys"("created_at");
