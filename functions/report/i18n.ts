import type { PriceOrigin } from "../core/price-snapshot.js";
import type { Dec } from "../core/decimal.js";

import type { Language } from "../core/language.js";

/** Every label a report shows, per language: one table so ko and en never drift apart. */
const LABELS = {
  ko: {
    title: "GPU 사용량 및 비용 보고서",
    platform: "플랫폼 전체",
    linkExpiryUnknown: "발송 후 몇 시간 안에 만료될 수 있음 (임시 자격 증명으로 서명됨)",
    tenantReport: "테넌트 보고서",
    month: "청구 월",
    timeZone: "시간대",
    period: "기간",
    generatedFrom: "데이터셋",
    totalCost: "총 비용",
    allocated: "할당 GPU시간",
    used: "사용 GPU시간",
    billable: "청구 GPU시간",
    utilization: "사용률",
    factor: "보정 계수",
    gpuShort: "GPU",
    utilShort: "사용률",
    factorShort: "보정 계수",
    cost: "비용",
    spotSavings: "Spot 절감액",
    tenant: "테넌트",
    tenantId: "테넌트 ID",
    namespace: "네임스페이스",
    pod: "파드",
    node: "노드",
    gpuModel: "GPU 모델",
    instanceType: "인스턴스 유형",
    capacityType: "용량 유형",
    spot: "Spot",
    onDemand: "온디맨드",
    costByTenant: "테넌트별 비용",
    costByNamespace: "네임스페이스별 비용",
    byTenant: "테넌트별 사용량 및 비용",
    spotVsOnDemand: "Spot 대 온디맨드",
    onDemandEquivalent: "온디맨드 환산 비용",
    savings: "절감액",
    dailyTrend: "일별 할당 대 사용 GPU시간",
    day: "일자",
    namespaces: "네임스페이스별 사용률 및 보정 계수",
    topNamespaces: "비용 상위 네임스페이스",
    idle: "노드 그룹별 유휴 용량",
    nodeGroup: "노드 그룹",
    nodes: "노드 수",
    capacity: "용량 GPU시간",
    idleHours: "유휴 GPU시간",
    idleRatio: "유휴율",
    unitPrice: "GPU시간 단가",
    idleCost: "유휴 비용",
    idleNote: "유휴 비용은 테넌트에게 배분되지 않습니다.",
    controller: "유휴 노드 컨트롤러: 회수로 절감한 용량",
    nodesReclaimed: "회수 노드",
    scaleOuts: "스케일아웃",
    gpuHoursSaved: "절감 GPU시간",
    savedCost: "절감액",
    controllerSummary: (idleH: string, idleCost: string, savedH: string, savedCost: string) =>
      `유휴 ${idleH} GPU시간(${idleCost})이 남았고, 회수로 ${savedH} GPU시간(${savedCost})을 절감했습니다(추정).`,
    controllerStatus: {
      "not-deployed": "배포되지 않음(감사 로그 없음)",
      "no-records": "이달 실행 기록 없음",
      "no-actions": "실행했으나 회수·스케일아웃 없음",
      acted: "조치함",
    } as Record<string, string>,
    controllerNote:
      "추정: 회수한 노드의 GPU × 회수부터 월말 또는 같은 노드 그룹의 다음 스케일아웃까지의 시간, 노드 그룹의 GPU시간 단가로 환산. 드라이런 결정은 제외.",
    reconciliation: "AWS 청구서 대사 (노드 그룹별)",
    awsCost: "AWS 비용",
    meteredCost: "계량 용량 비용",
    billedNotMetered: "계량되지 않은 AWS 청구 인스턴스",
    difference: "차이",
    reconciliationNote: (billed: number, metered: number, invoiced: boolean) =>
      `차이 = AWS 비용 − 계량 용량 비용 (노드 GPU-시간 × 단가). Prometheus가 보지 못한 AWS 청구 인스턴스 ${billed}개, CUR에 없는 계량 노드 ${metered}개 (reconciliation.csv 참조).` +
      (invoiced ? "" : " AWS가 아직 이 기간을 확정하지 않았으므로 금액이 바뀔 수 있습니다."),
    quota: "테넌트별 쿼터 사용",
    quotaLimit: "월 쿼터 (GPU시간)",
    quotaUsed: "사용 (할당 GPU시간)",
    quotaUsedBillable: "사용 (청구 GPU시간)",
    quotaBasisNote: "기준: 할당 GPU시간 (쿼터 검사와 같은 기준)",
    quotaBasisNoteBillable: "기준: 청구 GPU시간 (쿼터 검사와 같은 기준)",
    quotaFormulaBillable: "쿼터 사용 = 청구 GPU시간 ÷ 월 쿼터",
    quotaRatio: "사용 비율",
    unlimited: "무제한",
    over: "초과",
    methodology: "산정 방법",
    formulas: "계산식",
    priceTable: "단가표",
    gpus: "GPU 수",
    onDemandHourly: "온디맨드 시간당",
    spotHourly: "Spot 시간당",
    perGpuOnDemand: "GPU당 온디맨드",
    perGpuSpot: "GPU당 Spot",
    priceSource: "단가 출처",
    priceOrigin: "단가 근거",
    originConfig: "설정 단가표",
    originPriceList: "AWS Price List (pricing:GetProducts)",
    originSpotHistory: "EC2 Spot 가격 이력 (노드별 가동 시간 가중)",
    spotByZone: "가용 영역별 Spot 단가 (EC2 DescribeSpotPriceHistory, Linux/UNIX)",
    zone: "가용 영역",
    priceChanges: "가격 변경",
    lowHigh: "최저–최고 시간당",
    awsPriceSourceText:
      "온디맨드: AWS Price List Query API (pricing:GetProducts), {region}, Linux, 공유 테넌시, SKU {skus}. Spot: EC2 Spot 가격 이력 (DescribeSpotPriceHistory, Linux/UNIX) — 각 Spot 노드의 인스턴스 유형·가용 영역 가격을 그 노드가 가동된 분 단위로 가중 평균. 행 단가는 그 행 노드들의 GPU시간 가중 평균. 모든 단가는 데이터셋의 prices.json에 있습니다.",
    tiers: "보정 구간",
    minUtilization: "최소 평균 사용률",
    granularity: "보정 단위",
    dataSources: "데이터 출처",
    manifestHash: "매니페스트 SHA-256",
    configHash: "설정 해시",
    configChanged: "주의: 이 보고서의 설정은 데이터셋을 계량할 때의 설정과 다릅니다 (이름, 쿼터, 단가표 표시만 영향).",
    rounding: "반올림",
    roundingText:
      "GPU시간은 소수점 6자리에서 반올림(half-up)합니다. 청구 GPU시간 = 할당 × 보정 계수. 비용 = 표시된 청구 GPU시간 × 표시된 단가를 행마다 한 번 통화 최소 단위로 반올림합니다. 합계는 행의 합입니다.",
    warnings: "경고",
    total: "합계",
    page: "쪽",
    none: "없음",
    legendAllocated: "할당",
    legendUsed: "사용",
    summary: "요약",
    noUsage: "이 달에는 사용량이 없습니다.",
    formulaLines: [
      "할당 GPU시간 = Σ Running 상태 분(minute) × 요청 GPU × 분할 비율 ÷ 60 (MIG g÷7, 타임 슬라이싱 1÷N)",
      "사용 GPU시간 = Σ 할당 × DCGM GPU 사용률 (MIG는 GR_ENGINE_ACTIVE)",
      "평균 사용률 = 사용 ÷ 할당 (보정 단위별, 월 전체)",
      "청구 GPU시간 = 할당 × 보정 계수",
      "GPU시간 단가 = 인스턴스 시간당 가격 ÷ 인스턴스 GPU 수 (Spot/온디맨드 별도)",
      "비용 = 청구 GPU시간 × 단가 (통화 최소 단위로 행마다 한 번 반올림)",
      "유휴 = 노드 GPU시간 − 할당 GPU시간 (같은 단가로 산정, 테넌트에 배분하지 않음)",
      "Spot 절감액 = Spot 청구 GPU시간 × 같은 인스턴스의 온디맨드 단가 − Spot 비용",
      "쿼터 사용 = 할당 GPU시간 ÷ 월 쿼터",
    ],
    dataSourceLines: [
      "kube-state-metrics: 파드 단계(phase), GPU 요청, 노드 레이블 (인스턴스·용량 유형)",
      "NVIDIA dcgm-exporter: GPU 사용률 (DCGM_FI_DEV_GPU_UTIL, DCGM_FI_PROF_GR_ENGINE_ACTIVE)",
    ],
  },
  en: {
    title: "GPU usage and cost report",
    platform: "Whole platform",
    linkExpiryUnknown: "possibly within hours of sending (signed with temporary credentials)",
    tenantReport: "Tenant report",
    month: "Billing month",
    timeZone: "Time zone",
    period: "Period",
    generatedFrom: "Dataset",
    totalCost: "Total cost",
    allocated: "Allocated GPU-h",
    used: "Used GPU-h",
    billable: "Billable GPU-h",
    utilization: "Utilization",
    factor: "Correction factor",
    gpuShort: "GPU",
    utilShort: "Util.",
    factorShort: "Factor",
    cost: "Cost",
    spotSavings: "Spot savings",
    tenant: "Tenant",
    tenantId: "Tenant ID",
    namespace: "Namespace",
    pod: "Pod",
    node: "Node",
    gpuModel: "GPU model",
    instanceType: "Instance type",
    capacityType: "Capacity type",
    spot: "Spot",
    onDemand: "On-Demand",
    costByTenant: "Cost by tenant",
    costByNamespace: "Cost by namespace",
    byTenant: "GPU-hours and cost by tenant",
    spotVsOnDemand: "Spot vs On-Demand",
    onDemandEquivalent: "At On-Demand prices",
    savings: "Savings",
    dailyTrend: "Daily allocated vs used GPU-hours",
    day: "Day",
    namespaces: "Utilization and correction factor by namespace",
    topNamespaces: "Top namespaces by cost",
    idle: "Idle capacity by node group",
    nodeGroup: "Node group",
    nodes: "Nodes",
    capacity: "Capacity GPU-h",
    idleHours: "Idle GPU-h",
    idleRatio: "Idle ratio",
    unitPrice: "Price per GPU-h",
    idleCost: "Idle cost",
    idleNote: "Idle cost is not charged to tenants.",
    controller: "Idle-node controller: what reclaiming saved",
    nodesReclaimed: "Reclaimed",
    scaleOuts: "Scale-outs",
    gpuHoursSaved: "GPU-h saved",
    savedCost: "Saved",
    controllerSummary: (idleH: string, idleCost: string, savedH: string, savedCost: string) =>
      `${idleH} GPU-h stayed idle (${idleCost}); reclaiming saved an estimated ${savedH} GPU-h (${savedCost}).`,
    controllerStatus: {
      "not-deployed": "not deployed (no audit log)",
      "no-records": "no runs recorded this month",
      "no-actions": "ran, nothing reclaimed or scaled out",
      acted: "acted",
    } as Record<string, string>,
    controllerNote:
      "Estimate: each reclaimed node's GPUs × the time from its reclaim to the month end or to the next scale-out in its node group, at the group's GPU-hour unit price. Dry-run decisions are not counted.",
    reconciliation: "Reconciliation to the AWS bill, by node group",
    awsCost: "AWS cost",
    meteredCost: "Metered capacity",
    billedNotMetered: "Billed by AWS, not metered",
    difference: "Difference",
    reconciliationNote: (billed: number, metered: number, invoiced: boolean) =>
      `Difference = AWS cost − metered capacity cost (node GPU-hours × unit price). ${billed} instance(s) AWS billed that Prometheus never saw, ${metered} metered node(s) not in the CUR (see reconciliation.csv).` +
      (invoiced ? "" : " AWS has not invoiced this period yet: the figures may still change."),
    quota: "Quota usage by tenant",
    quotaLimit: "Monthly quota (GPU-h)",
    quotaUsed: "Used (allocated GPU-h)",
    quotaUsedBillable: "Used (billable GPU-h)",
    quotaBasisNote: "Basis: allocated GPU-h (the same basis as the quota check)",
    quotaBasisNoteBillable: "Basis: billable GPU-h (the same basis as the quota check)",
    quotaFormulaBillable: "Quota usage = billable GPU-h ÷ monthly quota",
    quotaRatio: "Used %",
    unlimited: "unlimited",
    over: "over",
    methodology: "Methodology",
    formulas: "Formulas",
    priceTable: "Price table",
    gpus: "GPUs",
    onDemandHourly: "On-Demand hourly",
    spotHourly: "Spot hourly",
    perGpuOnDemand: "On-Demand per GPU",
    perGpuSpot: "Spot per GPU",
    priceSource: "Price source",
    priceOrigin: "Price basis",
    originConfig: "config price table",
    originPriceList: "AWS Price List (pricing:GetProducts)",
    originSpotHistory: "EC2 Spot price history (weighted over each node's minutes)",
    spotByZone: "Spot prices by Availability Zone (EC2 DescribeSpotPriceHistory, Linux/UNIX)",
    zone: "Zone",
    priceChanges: "Price changes",
    lowHigh: "Lowest–highest hourly",
    awsPriceSourceText:
      "On-Demand: AWS Price List Query API (pricing:GetProducts), {region}, Linux, shared tenancy, SKU {skus}. Spot: EC2 Spot price history (DescribeSpotPriceHistory, Linux/UNIX): each Spot node at its instance type's price in its Availability Zone, weighted over the minutes the node ran. A row's unit price is the GPU-hours-weighted price of its nodes. Every price is in the dataset's prices.json.",
    tiers: "Correction tiers",
    minUtilization: "Minimum average utilization",
    granularity: "Correction unit",
    dataSources: "Data sources",
    manifestHash: "Manifest SHA-256",
    configHash: "Config hash",
    configChanged:
      "Note: the config used for this report differs from the one the dataset was metered with (affects names, quotas and the price table shown only).",
    rounding: "Rounding",
    roundingText:
      "GPU-hours are rounded half-up to 6 decimals. Billable = allocated × correction factor. Cost = billable GPU-hours × unit price as printed, rounded half-up once per row to the currency's minor unit. Totals are sums of the rows.",
    warnings: "Warnings",
    total: "Total",
    page: "Page",
    none: "none",
    legendAllocated: "Allocated",
    legendUsed: "Used",
    summary: "Summary",
    noUsage: "No usage this month.",
    formulaLines: [
      "Allocated GPU-h = Σ Running minutes × requested GPUs × fraction ÷ 60 (MIG g÷7, time-slicing 1÷N)",
      "Used GPU-h = Σ allocated × DCGM GPU utilization (GR_ENGINE_ACTIVE on MIG)",
      "Average utilization = used ÷ allocated (per correction unit, whole month)",
      "Billable GPU-h = allocated × correction factor",
      "Price per GPU-h = instance hourly price ÷ GPUs of the instance (Spot and On-Demand separately)",
      "Cost = billable GPU-h × price per GPU-h (rounded once per row to the currency's minor unit)",
      "Idle = node GPU-h − allocated GPU-h (priced at the same unit price, never charged to tenants)",
      "Spot savings = Spot billable GPU-h × On-Demand price of the same instance type − Spot cost",
      "Quota usage = allocated GPU-h ÷ monthly quota",
    ],
    dataSourceLines: [
      "kube-state-metrics: pod phase, GPU requests, node labels (instance and capacity type)",
      "NVIDIA dcgm-exporter: GPU utilization (DCGM_FI_DEV_GPU_UTIL, DCGM_FI_PROF_GR_ENGINE_ACTIVE)",
    ],
  },
} as const;

export type Labels = (typeof LABELS)["en"];
export const labels = (lang: Language): Labels => LABELS[lang] as unknown as Labels;

/** Thousands separators on a decimal's fixed rendering (never through a binary float). */
export function grouped(d: Dec, dp: number): string {
  const s = d.toFixed(dp);
  const neg = s.startsWith("-");
  const [i, f] = (neg ? s.slice(1) : s).split(".");
  const g = i!.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${neg ? "-" : ""}${g}${f !== undefined ? `.${f}` : ""}`;
}

export const fmtHours = (d: Dec) => grouped(d, 2);
export const fmtMoney = (d: Dec, currency: string, dp: number) => `${currency} ${grouped(d, dp)}`;
export const fmtPct = (d: Dec) => `${d.mul(100).toFixed(1)}%`;
/** Where a price came from, in the report's language. */
export const originLabel = (l: Labels, o: PriceOrigin): string =>
  o === "config" ? l.originConfig : o === "aws-price-list" ? l.originPriceList : l.originSpotHistory;
export const capacityLabel = (l: Labels, c: string) => (c === "spot" ? l.spot : l.onDemand);

/** `2026-10-01 00:00` in the billing time zone: the period as the reader's calendar shows it. */
export function localTime(iso: string, timeZone: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const p = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(new Date(ms))
      .map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** The formulas as printed, with the quota line on the basis the quota check uses (config `quota.basis`). */
export function formulaLines(l: Labels, quotaBasis: "allocated" | "billable"): readonly string[] {
  if (quotaBasis === "allocated") return l.formulaLines;
  return [...l.formulaLines.slice(0, -1), l.quotaFormulaBillable];
}
