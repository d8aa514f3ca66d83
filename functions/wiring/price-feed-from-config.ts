import { EC2Client } from "@aws-sdk/client-ec2";
import { PricingClient } from "@aws-sdk/client-pricing";
import { priceSourceOf, type BaseConfig } from "../core/config.js";
import { ec2SpotPriceHistory } from "../adapters/ec2-spot-price-history.js";
import { awsPriceList } from "../adapters/aws-price-list.js";
import type { AwsPriceFeed } from "../metering/month-prices.js";

/**
 * The Price List Query API answers only in us-east-1 and ap-south-1 (AWS Price List Query API,
 * "Endpoints"); us-east-1 serves every region's prices.
 */
export const PRICE_LIST_REGION = "us-east-1";

/**
 * The AWS price feed a config asks for (`prices.source: aws`), with clients made here at wiring
 * time: EC2 in the nodes' region (Spot history is regional), Pricing in PRICE_LIST_REGION.
 * Undefined under `prices.source: config`: nothing of AWS is called.
 */
export function priceFeedFromConfig(cfg: BaseConfig, clients: { ec2?: EC2Client; pricing?: PricingClient } = {}): AwsPriceFeed | undefined {
  if (priceSourceOf(cfg) !== "aws") return undefined;
  const region = cfg.priceFeed!.region!;
  return {
    spot: ec2SpotPriceHistory(clients.ec2 ?? new EC2Client({ region })),
    onDemand: awsPriceList(clients.pricing ?? new PricingClient({ region: PRICE_LIST_REGION })),
  };
}
