-- Conversions per day, campaign and conversion rule, with names: what marketers ask every connector for.
with rules as (

    select
        id as conversion_id,
        name as conversion_name,
        type as conversion_type,
        attribution_type,
        post_click_attribution_window_size,
        view_through_attribution_window_size,
        enabled as is_enabled,
        row_number() over (partition by id order by last_modified_time desc, _fivetran_synced desc) = 1 as is_latest
    from {{ source('linkedin_ads_conversions', 'conversion_history') }}

), campaigns as (

    select * from {{ ref('stg_linkedin_ads__campaign_history') }} where is_latest_version

), campaign_groups as (

    select * from {{ ref('stg_linkedin_ads__campaign_group_history') }} where is_latest_version

), accounts as (

    select * from {{ ref('stg_linkedin_ads__account_history') }} where is_latest_version

), report as (

    select * from {{ source('linkedin_ads_conversions', 'ad_analytics_by_campaign_with_conversion_breakdown') }}

)

select
    cast(report.day as date) as date_day,
    report.account_id,
    accounts.account_name,
    campaigns.campaign_group_id,
    campaign_groups.campaign_group_name,
    report.campaign_id,
    campaigns.campaign_name,
    report.conversion_id,
    rules.conversion_name,
    rules.conversion_type,
    rules.attribution_type,
    rules.post_click_attribution_window_size,
    rules.view_through_attribution_window_size,
    rules.is_enabled,
    report.external_website_conversions,
    report.external_website_post_click_conversions,
    report.external_website_post_view_conversions,
    report.conversion_value_in_local_currency,
    report.viral_external_website_conversions,
    report.viral_external_website_post_click_conversions,
    report.viral_external_website_post_view_conversions,
    report.one_click_leads,
    report.qualified_leads
from report
left join rules
    on rules.conversion_id = report.conversion_id and rules.is_latest
left join campaigns
    on campaigns.campaign_id = report.campaign_id
left join campaign_groups
    on campaign_groups.campaign_group_id = campaigns.campaign_group_id
left join accounts
    on accounts.account_id = report.account_id
